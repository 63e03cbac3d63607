// The `roentgen` command: one entry point, one subcommand per job.

import ArgumentParser
import Foundation
import Roentgen

@main
struct RoentgenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roentgen",
        abstract: "Classify radiographs by anatomy with an int8 or float32 Roentgen model.",
        subcommands: [Classify.self, Inspect.self, Verify.self, Bench.self, PreprocessCommand.self, DICOMDump.self])
}

/// One line on stderr, `roentgen: error: ...`, then exit status 1.
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("roentgen: error: \(message)\n".utf8))
    return ExitCode.failure
}

func loadModel(_ path: String) throws -> Model {
    do { return try Model(path: path) } catch { throw fail(error.description) }
}

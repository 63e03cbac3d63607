// Placeholder, replaced by the verify work (issue 4).
import ArgumentParser
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Compare an int8 model with its float model on labelled images.", shouldDisplay: false)
    func run() throws { throw ValidationError("verify is not built yet") }
}

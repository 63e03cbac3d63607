// Placeholder, replaced by the speed work (issue 5).
import ArgumentParser
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure inference latency.", shouldDisplay: false)
    func run() throws { throw ValidationError("bench is not built yet") }
}

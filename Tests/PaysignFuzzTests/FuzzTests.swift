import Foundation
import PaysignFuzzHarness
import Testing

/// The short fuzz run of `make test` (issue 8): every parser of outside bytes on thousands of
/// mutated valid inputs, deterministic (same seed, same inputs), a few seconds per target. The long
/// run is libFuzzer's (`make fuzz`, scripts/fuzz.sh), on the same harness.
///
/// Each input must give a value or the parser's documented error, round trips must hold, and no
/// input may take more than `slowInput`. PAYSIGN_FUZZ_SECONDS sets the time per target (default 3),
/// PAYSIGN_FUZZ_SEED the mutator's seed (default fixed).
@Suite("Fuzz, short run", .serialized)
struct FuzzTests {
    static var harness: Result<FuzzHarness, any Error> { FuzzTestsSupport.harness }

    static let secondsPerTarget: Double = ProcessInfo.processInfo.environment["PAYSIGN_FUZZ_SECONDS"].flatMap(Double.init) ?? 3
    static let seed: UInt64 = ProcessInfo.processInfo.environment["PAYSIGN_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_0008
    static let slowInput: Duration = .seconds(2)
    static let maximumInputs = 200_000

    @Test("seeds are accepted by their parsers", arguments: FuzzTarget.allCases)
    func seedsAreValid(_ target: FuzzTarget) throws {
        let harness = try Self.harness.get()
        let seeds = try #require(harness.seeds.inputs[target])
        #expect(!seeds.isEmpty)
        for (index, seed) in seeds.enumerated() {
            #expect(harness.run(target, seed) == nil, "seed \(index) of \(target.rawValue)")
        }
    }

    @Test("mutated inputs give a value or the documented error", .timeLimit(.minutes(2)), arguments: FuzzTarget.allCases)
    func mutations(_ target: FuzzTarget) throws {
        let harness = try Self.harness.get()
        let seeds = try #require(harness.seeds.inputs[target])
        var mutator = Mutator(seed: Self.seed ^ Self.stableHash(target.rawValue),
                              seeds: seeds, dictionary: target.dictionary, maximumLength: target.maximumLength)
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int(Self.secondsPerTarget * 1000))
        var executions = 0
        var distinct = Set<Int>()
        var findings: [String] = []
        while clock.now < deadline, executions < Self.maximumInputs, findings.count < 5 {
            let input = mutator.next()
            distinct.insert(input.hashValue)
            let started = clock.now
            let finding = harness.run(target, input)
            let took = clock.now - started
            executions += 1
            if let finding {
                findings.append("\(finding) — input (\(input.count) bytes, base64): \(Data(input.prefix(4096)).base64EncodedString())")
            } else if took > Self.slowInput {
                findings.append("an input took \(took) — input (\(input.count) bytes, base64): \(Data(input.prefix(4096)).base64EncodedString())")
            }
        }
        print("fuzz \(target.rawValue) execs=\(executions) inputs=\(distinct.count) crashes=\(findings.count)")
        for finding in findings { Issue.record("\(target.rawValue): \(finding)") }
        #expect(executions >= 100, "only \(executions) inputs in \(Self.secondsPerTarget) s")
    }

    /// FNV-1a: `hashValue` is seeded per process, this is not.
    static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }
}

/// The seeds and harness, made once per test process.
enum FuzzTestsSupport {
    static let seedsResult: Result<FuzzSeeds, any Error> = Result { try FuzzSeeds.generate() }
    static let harness: Result<FuzzHarness, any Error> = Result { try FuzzHarness(seeds: try seedsResult.get()) }
    static func seeds() throws -> FuzzSeeds { try seedsResult.get() }
}

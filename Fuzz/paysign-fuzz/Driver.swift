// The libFuzzer driver: one binary for every target, chosen by PAYSIGN_FUZZ_TARGET. Built only by
// scripts/fuzz.sh (PAYSIGN_FUZZ=1 swift build … -sanitize=fuzzer,address), never by `swift build`.
//
//   PAYSIGN_FUZZ_TARGET=cms paysign-fuzz CORPUS -max_total_time=60
//   PAYSIGN_FUZZ_TARGET=cms PAYSIGN_FUZZ_SEED_DIR=CORPUS paysign-fuzz -runs=0   # writes the seeds
//   PAYSIGN_FUZZ_TARGET=cms paysign-fuzz crash-…                                 # replays one input
//
// A finding (another error type, a broken round trip) is a crash: libFuzzer saves the input.
import Foundation
import PaysignFuzzHarness

nonisolated(unsafe) var harness: FuzzHarness?
nonisolated(unsafe) var target = FuzzTarget.orderFile

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let environment = ProcessInfo.processInfo.environment
    guard let name = environment["PAYSIGN_FUZZ_TARGET"], let chosen = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("paysign-fuzz: set PAYSIGN_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    target = chosen
    do {
        let seeds = try FuzzSeeds.generate()
        harness = try FuzzHarness(seeds: seeds)
        if let directory = environment["PAYSIGN_FUZZ_SEED_DIR"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (index, seed) in (seeds.inputs[chosen] ?? []).enumerated() {
                try Data(seed).write(to: URL(fileURLWithPath: directory).appendingPathComponent("seed-\(index)"))
            }
        }
    } catch {
        FileHandle.standardError.write(Data("paysign-fuzz: cannot make the seeds: \(error)\n".utf8))
        exit(2)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    if let finding = harness?.run(target, bytes) {
        fatalError("paysign-fuzz \(target.rawValue): \(finding)")
    }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

// SwiftPM links an executable target with `--defsym main=<module>_main`: this is that main, and it
// hands over to libFuzzer's driver.
@_cdecl("paysign_fuzz_main")
public func paysignFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, count in testOneInput(data, count) }
}

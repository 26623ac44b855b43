import Foundation

/// A failure to make a document, in one sentence for `paysign: …`.
public struct PrintingError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A program paysign runs to make a document (Chromium, qpdf, Python), found on `PATH` or at a
/// fixed place, never through a shell: arguments are passed as they are.
struct ExternalProgram: Sendable {
    let path: String

    /// The first of `names` that is an executable file on `PATH` (or an absolute path).
    static func find(_ names: [String], environment: [String: String] = ProcessInfo.processInfo.environment) -> ExternalProgram? {
        let folders = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        for name in names {
            if name.hasPrefix("/") {
                if FileManager.default.isExecutableFile(atPath: name) { return ExternalProgram(path: name) }
                continue
            }
            for folder in folders where !folder.isEmpty {
                let candidate = folder + "/" + name
                if FileManager.default.isExecutableFile(atPath: candidate) { return ExternalProgram(path: candidate) }
            }
        }
        return nil
    }

    struct Outcome {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs the program to its end (at most `timeout` seconds; then it is killed), `input`
    /// written to its standard input by `feed` while it runs. Standard error goes to a file, so
    /// a chatty program cannot block on a full pipe.
    func run(_ arguments: [String], environment: [String: String]? = nil, timeout: Double = 600,
             feed: ((FileHandle) throws -> Void)? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        let errorsFile = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-\(getpid())-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorsFile.path, contents: nil, attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(at: errorsFile) }
        let errors = try FileHandle(forWritingTo: errorsFile)
        process.standardError = errors
        let input = feed == nil ? nil : Pipe()
        if let input { process.standardInput = input } else { process.standardInput = FileHandle.nullDevice }
        do { try process.run() } catch {
            throw PrintingError("cannot start \(path): \(error.localizedDescription)")
        }
        try? errors.close()
        let deadline = DispatchTime.now() + timeout
        let timer = DispatchSource.makeTimerSource()
        timer.schedule(deadline: deadline)
        timer.setEventHandler { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        timer.resume()
        defer { timer.cancel() }
        var fed: (any Error)?
        if let input, let feed {
            do { try feed(input.fileHandleForWriting) } catch { fed = error }
            try? input.fileHandleForWriting.close()
        }
        let out = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if let fed, process.terminationStatus == 0 { throw fed }
        let err = (try? String(contentsOf: errorsFile, encoding: .utf8)) ?? ""
        if process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL {
            throw PrintingError("\(URL(fileURLWithPath: path).lastPathComponent) did not finish within \(Int(timeout)) s")
        }
        return Outcome(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self), errors: err)
    }
}

/// A private folder for a document's intermediate files (mode 0700), removed when done.
final class WorkFolder {
    let path: String

    init() throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/paysign-print.XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw PrintingError("cannot make a temporary folder in \(FileManager.default.temporaryDirectory.path) (\(String(cString: strerror(errno))))")
        }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Makes `output` through a file written beside it (`.NAME.PID.tmp`, in the same folder, so on
/// the same file system) and renamed over it: a reader never sees half a file, and a failure
/// leaves nothing behind. `make` writes the file at the path it is given.
func replacing(_ output: String, extension suffix: String = "", _ make: (String) throws -> Void) throws {
    let url = URL(fileURLWithPath: output)
    let temporary = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".\(getpid()).tmp" + suffix
    do {
        try make(temporary)
        guard rename(temporary, output) == 0 else {
            throw PrintingError("cannot write \(output) (\(String(cString: strerror(errno))))")
        }
    } catch {
        unlink(temporary)
        throw error
    }
}

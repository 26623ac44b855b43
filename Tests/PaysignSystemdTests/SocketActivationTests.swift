import Foundation
import PaysignSystemd
import Testing

/// `sd_listen_fds` semantics against real descriptors: listening sockets, a file, a socket that
/// does not listen, a closed descriptor. The descriptors are whatever numbers the test gets; the
/// overload with `firstDescriptor` reads them where they are (fd 3 in a test process belongs to
/// somebody else).
struct SocketActivationTests {
    @Test func takesARealListeningSocketAndSetsCloseOnExec() throws {
        let dir = try Sockets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fd = try Sockets.unix(path: dir + "/paysign.sock", listen: true)
        defer { close(fd) }
        #expect(!Sockets.isCloseOnExec(fd))

        let sockets = try SocketActivation.listeningSockets(
            environment: ["LISTEN_PID": "\(getpid())", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "paysignd.socket"],
            processID: getpid(), firstDescriptor: fd)
        #expect(sockets == [ListeningSocket(descriptor: fd, name: "paysignd.socket")])
        #expect(Sockets.isCloseOnExec(fd))
        #expect(SocketActivation.isUnixSocket(fd))
        #expect(SocketActivation.boundPath(of: fd) == dir + "/paysign.sock")
    }

    @Test func takesTwoConsecutiveSocketsWithTheirNames() throws {
        let dir = try Sockets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try Sockets.unix(path: dir + "/a.sock", listen: true)
        let b = try Sockets.unix(path: Sockets.abstractName(), listen: true)
        defer { close(a); close(b) }
        let first = try Sockets.freeConsecutiveDescriptors(2)
        try #require(dup2(a, first) == first && dup2(b, first + 1) == first + 1)
        defer { close(first); close(first + 1) }

        let sockets = try SocketActivation.listeningSockets(
            environment: ["LISTEN_PID": "\(getpid())", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "api:admin"],
            processID: getpid(), firstDescriptor: first)
        #expect(sockets.map(\.descriptor) == [first, first + 1])
        #expect(sockets.map(\.name) == ["api", "admin"])
        #expect(SocketActivation.boundPath(of: first) == dir + "/a.sock")
        #expect(SocketActivation.boundPath(of: first + 1)?.hasPrefix("@paysign-test-") == true)

        // Without LISTEN_FDNAMES every socket is "unknown", as sd_listen_fds_with_names says.
        let unnamed = try SocketActivation.listeningSockets(
            environment: ["LISTEN_PID": "\(getpid())", "LISTEN_FDS": "2"], processID: getpid(), firstDescriptor: first)
        #expect(unnamed.map(\.name) == ["unknown", "unknown"])
    }

    @Test func refusesAFileWithOneSentence() throws {
        let dir = try Sockets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fd = open(dir + "/not-a-socket", O_CREAT | O_RDWR, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }

        let error = try #require(throws: SystemdError.self) {
            try SocketActivation.listeningSockets(
                environment: ["LISTEN_PID": "\(getpid())", "LISTEN_FDS": "1"], processID: getpid(), firstDescriptor: fd)
        }
        #expect(error.code == .notASocket)
        #expect(
            error.message == "descriptor \(fd) passed by systemd (LISTEN_FDS) is not a socket but a regular file;"
                + " check ListenStream= in the socket unit")
        #expect(!error.message.contains("\n"))
        #expect(!SocketActivation.isUnixSocket(fd))
        #expect(SocketActivation.boundPath(of: fd) == nil)
    }

    /// What a daemon finds at descriptor 3 when a launcher forgot to keep it open across exec:
    /// whatever the process opened there since, here a pipe.
    @Test func refusesAPipe() throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let error = try #require(throws: SystemdError.self) {
            try SocketActivation.listeningSockets(
                environment: ["LISTEN_PID": "\(getpid())", "LISTEN_FDS": "1"], processID: getpid(),
                firstDescriptor: ends[0])
        }
        #expect(error.code == .notASocket)
        #expect(error.message.contains("is not a socket but a pipe;"))
    }

    @Test func refusesASocketThatDoesNotListen() throws {
        let dir = try Sockets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fd = try Sockets.unix(path: dir + "/bound-only.sock", listen: false)
        defer { close(fd) }

        let error = try #require(throws: SystemdError.self) {
            try SocketActivation.listeningSockets(
                environment: ["LISTEN_PID": "\(getpid())", "LISTEN_FDS": "1"], processID: getpid(), firstDescriptor: fd)
        }
        #expect(error.code == .notListening)
        #expect(
            error.message == "descriptor \(fd) passed by systemd is a socket that does not listen;"
                + " the socket unit must use ListenStream= with Accept=no")
        // It is still a Unix socket, bound where the test put it.
        #expect(SocketActivation.isUnixSocket(fd))
        #expect(SocketActivation.boundPath(of: fd) == dir + "/bound-only.sock")
    }

    @Test func refusesADescriptorThatIsNotOpen() throws {
        let first = try Sockets.freeConsecutiveDescriptors(1)
        let error = try #require(throws: SystemdError.self) {
            try SocketActivation.listeningSockets(
                environment: ["LISTEN_PID": "\(getpid())", "LISTEN_FDS": "1"], processID: getpid(),
                firstDescriptor: first)
        }
        #expect(error.code == .badDescriptor)
        #expect(error.errno == EBADF)
        #expect(error.message.hasPrefix("systemd announced 1 sockets (LISTEN_FDS) but descriptor \(first) is not open"))
    }

    @Test(arguments: [
        // Meant for another process (inherited from a parent): nothing for us.
        ["LISTEN_PID": "1", "LISTEN_FDS": "1"],
        // Not started by systemd at all.
        [:],
        ["LISTEN_FDS": "1"],
        // Our process, but no descriptors.
        ["LISTEN_PID": "SELF"],
        ["LISTEN_PID": "SELF", "LISTEN_FDS": "0"],
    ])
    func passesNothingWhenNotMeantForUs(_ given: [String: String]) throws {
        let environment = given.mapValues { $0 == "SELF" ? "\(getpid())" : $0 }
        // firstDescriptor points at a descriptor that is not open: touching it would throw.
        let unused = try Sockets.freeConsecutiveDescriptors(1)
        let sockets = try SocketActivation.listeningSockets(
            environment: environment, processID: getpid(), firstDescriptor: unused)
        #expect(sockets == [])
    }

    @Test(arguments: [
        ["LISTEN_PID": "me", "LISTEN_FDS": "1"],
        ["LISTEN_PID": "0", "LISTEN_FDS": "1"],
        ["LISTEN_PID": "SELF", "LISTEN_FDS": "-1"],
        ["LISTEN_PID": "SELF", "LISTEN_FDS": " 1"],
        ["LISTEN_PID": "SELF", "LISTEN_FDS": "99999999999"],
        ["LISTEN_PID": "SELF", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "only-one"],
    ])
    func refusesMalformedVariables(_ given: [String: String]) throws {
        let environment = given.mapValues { $0 == "SELF" ? "\(getpid())" : $0 }
        let error = try #require(throws: SystemdError.self) {
            try SocketActivation.listeningSockets(environment: environment, processID: getpid())
        }
        #expect(error.code == .malformedEnvironment)
        #expect(!error.message.contains("\n"))
    }

    /// The process environment itself: the variables are read and, when asked, cleared so no
    /// child inherits them. LISTEN_FDS=0 keeps every descriptor of this process out of it.
    @Test func readsAndClearsTheProcessEnvironment() throws {
        setenv("LISTEN_PID", "\(getpid())", 1)
        setenv("LISTEN_FDS", "0", 1)
        setenv("LISTEN_FDNAMES", "", 1)
        #expect(try SocketActivation.listeningSockets(unsetEnvironment: false) == [])
        #expect(getenv("LISTEN_PID") != nil && getenv("LISTEN_FDS") != nil && getenv("LISTEN_FDNAMES") != nil)
        #expect(try SocketActivation.namedListeningSockets() == [])
        #expect(getenv("LISTEN_PID") == nil && getenv("LISTEN_FDS") == nil && getenv("LISTEN_FDNAMES") == nil)

        // Cleared even when the variables do not parse.
        setenv("LISTEN_PID", "garbage", 1)
        #expect(throws: SystemdError.self) { try SocketActivation.listeningSockets() }
        #expect(getenv("LISTEN_PID") == nil)
    }

    @Test func describesUnixSocketsForTheLog() throws {
        let unnamed = try Sockets.unix(path: nil, listen: false)
        defer { close(unnamed) }
        #expect(SocketActivation.isUnixSocket(unnamed))
        #expect(SocketActivation.boundPath(of: unnamed) == "")

        let name = Sockets.abstractName()
        let abstract = try Sockets.unix(path: name, listen: true)
        defer { close(abstract) }
        #expect(SocketActivation.boundPath(of: abstract) == name)

        let inet = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(inet >= 0)
        defer { close(inet) }
        #expect(!SocketActivation.isUnixSocket(inet))
        #expect(SocketActivation.boundPath(of: inet) == nil)
        #expect(!SocketActivation.isUnixSocket(-1))
    }
}

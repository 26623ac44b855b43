// paysign-bench: figures for `make bench`, each printed as `bench NAME VALUE UNIT`.
//
// Raw C_Sign in one process (the reference: C_SignInit + C_Sign on the token's thread, nothing
// else), the same signatures through paysign's TokenSigner (hash, worker hand-off, DER
// conversion, certificate check), and raw C_Login + key search + C_Sign + C_Logout per signature
// (the reference for a request that brings its PIN), on SoftHSM tokens made by Certs/make-test-pki.sh.
import PaysignSecrets
import Foundation
import PaysignOpenSSL
@_spi(Benchmark) import PaysignPKCS11
import PaysignTokens

@main
struct Bench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        if arguments.count >= 3 && arguments[1] == "health" {
            let seconds = arguments.count > 3 ? Double(arguments[3]) ?? 2 : 2
            for clients in [1, 32] {
                let r = HealthBench.run(socket: arguments[2], clients: clients, seconds: seconds)
                print("bench health_rps_\(clients)_clients \(format(r.rate)) req/s")
                print("bench health_p50_\(clients)_clients \(format(r.p50, digits: 3)) ms")
                print("bench health_p99_\(clients)_clients \(format(r.p99, digits: 3)) ms")
                if r.errors > 0 { print("bench health_errors_\(clients)_clients \(r.errors) count") }
            }
            return
        }
        if arguments.count >= 4 && arguments[1] == "center-token" {
            try await CenterTokenBench.run(
                pki: URL(fileURLWithPath: arguments[2]), module: arguments[3], seconds: arguments.count > 4 ? Double(arguments[4]) ?? 2 : 2)
            return
        }
        if arguments.count >= 2, try daemonPhase(Array(arguments.dropFirst())) { return }
        guard arguments.count >= 3 else {
            FileHandle.standardError.write(Data("""
                usage: paysign-bench PKI-DIR MODULE [SECONDS [raw rsa2048|p256]]
                       paysign-bench health SOCKET [SECONDS]
                       paysign-bench center-token PKI-DIR MODULE [SECONDS]
                       paysign-bench setup SOCKET
                       paysign-bench orders SOCKET COUNT CSV [VALUE-DATE]
                       paysign-bench review SOCKET < ORDERS
                       paysign-bench sign SOCKET NAME CONCURRENCY TOKEN PIN [SECONDS] [--cached-login] < IDS
                       paysign-bench validate FILE [REPEATS]

                """.utf8))
            exit(2)
        }
        let pki = URL(fileURLWithPath: arguments[1])
        let module = arguments[2]
        let seconds = arguments.count > 3 ? Double(arguments[3]) ?? 2 : 2
        setenv("SOFTHSM2_CONF", pki.appendingPathComponent("softhsm2.conf").path, 1)
        let pins = try String(contentsOf: pki.appendingPathComponent("tokens.tsv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().reduce(into: [String: String]()) { table, line in
                let f = line.split(separator: "\t").map(String.init)
                table[f[0]] = f[2]
            }
        // `raw ALG`: only raw C_Sign on that algorithm's key (rsa2048 or p256), the reference
        // bench.sh measures right before and after each daemon figure.
        let rawOnly = arguments.count > 5 && arguments[4] == "raw" ? arguments[5] : nil
        let service = try TokenService(modules: .path(module))
        defer { service.close() }
        if rawOnly == nil { print("bench cores \(ProcessInfo.processInfo.activeProcessorCount) count") }
        for (label, algorithm, name) in [("officer1", SignatureAlgorithm.rsaPKCS1SHA256, "rsa2048"), ("officer2", .ecdsaSHA256, "p256")]
        where rawOnly == nil || rawOnly == name {
            let signer = try await service.signer(for: PKCS11URI("pkcs11:token=\(label)"))
            try await signer.login(pin: PIN(pins[label]!))
            let key = try await signer.privateKey()
            let message = Array("payment order benchmark".utf8)
            let digest = SHA256.hash(message)
            let input = algorithm.mechanism.takesDigest ? digest : message
            // Warm up, then size the run to the time asked for.
            let probe = try signer.session.rawSignLoop(input, mechanism: algorithm.mechanism, key: key, count: 20)
            let count = max(50, Int(seconds / max(probe / 20, 1e-6)))
            let raw = try signer.session.rawSignLoop(input, mechanism: algorithm.mechanism, key: key, count: count)
            print("bench c_sign_raw_\(name) \(format(Double(count) / raw)) sig/s")
            if rawOnly != nil {
                await signer.session.close()
                continue
            }
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<count { _ = try await signer.sign(message, algorithm: algorithm) }
            let wrapped = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            print("bench tokensigner_\(name) \(format(Double(count) / wrapped)) sig/s")
            print("ratio tokensigner_vs_raw_c_sign_\(name) \(format(raw / wrapped, digits: 3))")
            // The reference for a signature that brings its PIN (the daemon's default): C_Login, the
            // key's search, C_SignInit, C_Sign and C_Logout per signature, nothing else.
            try await signer.session.logout()
            let pin = Array(pins[label]!.utf8)
            let loginProbe = try signer.session.rawLoginSignLogoutLoop(input, mechanism: algorithm.mechanism, key: key, pin: pin, count: 5)
            let loginCount = max(20, Int(seconds / max(loginProbe / 5, 1e-6)))
            let withLogin = try signer.session.rawLoginSignLogoutLoop(input, mechanism: algorithm.mechanism, key: key, pin: pin, count: loginCount)
            print("bench c_login_sign_logout_raw_\(name) \(format(Double(loginCount) / withLogin)) sig/s")
            await signer.session.close()
        }
    }

    /// The subcommands of the daemon figures and the validation figures (DaemonSignBench,
    /// ValidationBench); false when `arguments` is none of them.
    static func daemonPhase(_ arguments: [String]) throws -> Bool {
        func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("paysign-bench: \(message)\n".utf8))
            exit(1)
        }
        do {
            switch (arguments[0], arguments.count) {
            case ("setup", 2...):
                try DaemonSignBench.setup(socket: arguments[1])
            case ("orders", 4...):
                guard let count = Int(arguments[2]) else { fail("orders: COUNT must be a number") }
                try DaemonSignBench.orders(socket: arguments[1], count: count, csv: arguments[3], valueDate: arguments.count > 4 ? arguments[4] : nil)
            case ("review", 2...):
                try DaemonSignBench.review(socket: arguments[1])
            case ("sign", 6...):
                let cached = arguments.contains("--cached-login")
                let rest = arguments.filter { $0 != "--cached-login" }
                guard rest.count >= 6 else { fail("sign: missing arguments (run paysign-bench alone for the usage)") }
                let name = rest[2]
                guard let concurrency = Int(rest[3]), concurrency > 0 else { fail("sign: CONCURRENCY must be a positive number") }
                let seconds = rest.count > 6 ? Double(rest[6]) ?? 3 : 3
                let r = try DaemonSignBench.sign(socket: rest[1], concurrency: concurrency, token: rest[4], pin: rest[5], seconds: seconds, cachedLogin: cached)
                print("bench daemon_sign_\(name) \(format(r.rate)) sig/s")
                print("bench daemon_sign_p50_\(name) \(format(r.p50, digits: 3)) ms")
                print("bench daemon_sign_p99_\(name) \(format(r.p99, digits: 3)) ms")
                if r.errors > 0 { print("bench daemon_sign_errors_\(name) \(r.errors) count") }
                FileHandle.standardError.write(Data("bench: \(name): \(r.signed) signatures in \(format(r.seconds, digits: 2)) s\n".utf8))
            case ("validate", 2...):
                try ValidationBench.run(path: arguments[1], repeats: arguments.count > 2 ? Int(arguments[2]) ?? 1 : 1)
            case ("setup", _), ("orders", _), ("review", _), ("sign", _), ("validate", _):
                fail("\(arguments[0]): missing arguments (run paysign-bench alone for the usage)")
            default:
                return false
            }
        } catch {
            fail("\(arguments[0]): \(error)")
        }
        fflush(nil)
        return true
    }

    static func format(_ value: Double, digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
}

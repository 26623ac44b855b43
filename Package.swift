// swift-tools-version: 6.1
// paysign: a signing daemon for government payment orders on PKCS#11 / PC/SC tokens.
//
// Layers, bottom to top (the folder tree says the same):
//   C bridges      CP11Kit, CPCSCLite, CLibCrypto (system libraries), CPaysignShims (what Swift cannot import)
//   Swift wrappers PaysignPKCS11, PaysignPCSC, PaysignOpenSSL: own every C handle, expose no C type
//   Token services PaysignTokens: inventory, signer and presence glue over the wrappers (no C import)
//   Domain         PaysignDomain: orders, roles, the Ministry's rules (no C, no I/O)
//   Registry       PaysignStore: the registry and the audit journal (SQLite)
//   Use cases      PaysignApplication: what each user does, with typed inputs, outputs and errors (no HTTP, no C)
//   Edges          PaysignDaemon (the socket API), paysign (the client), paysignd (the daemon)
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "paysign",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "paysign", targets: ["paysign"]),
        .executable(name: "paysignd", targets: ["paysignd"]),
        .executable(name: "paysign-center", targets: ["paysign-center"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.0"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
    ],
    targets: [
        // C bridges.
        .systemLibrary(
            name: "CP11Kit", pkgConfig: "p11-kit-1",
            providers: [.apt(["libp11-kit-dev"])]),
        .systemLibrary(
            name: "CPCSCLite", pkgConfig: "libpcsclite",
            providers: [.apt(["libpcsclite-dev"])]),
        .systemLibrary(
            name: "CLibCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        .target(name: "CPaysignShims", dependencies: ["CLibCrypto", "CP11Kit", "CPCSCLite"]),

        // A PIN's whole path (rule D5): the locked, wiped PIN type, taking PIN fields out of a
        // request body before any decoder sees it, writing them into one by the client.
        .target(name: "PaysignSecrets", swiftSettings: swiftSettings),

        // Swift wrappers that own every handle.
        .target(
            name: "PaysignPKCS11",
            dependencies: ["CP11Kit", "CPaysignShims", "PaysignSecrets", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        .target(
            name: "PaysignPCSC",
            dependencies: ["CPCSCLite", "CPaysignShims", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        .target(
            name: "PaysignOpenSSL",
            dependencies: ["CLibCrypto", "CPaysignShims", .product(name: "SwiftASN1", package: "swift-asn1")],
            swiftSettings: swiftSettings),

        // Token services: no C below this line.
        .target(
            name: "PaysignTokens",
            dependencies: ["PaysignSecrets", 
                "PaysignPKCS11", "PaysignPCSC", "PaysignOpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // The domain: orders, holders, roles, rules. No C, no I/O.
        .target(name: "PaysignDomain", swiftSettings: swiftSettings),

        // The words of documents and messages in Arabic and English: catalogs a translator edits
        // (Catalog/ar.yaml, Catalog/en.yaml), read with Yams, built into the program.
        .target(
            name: "PaysignText", dependencies: [.product(name: "Yams", package: "Yams")],
            resources: [.embedInCode("Catalog/en.yaml"), .embedInCode("Catalog/ar.yaml")],
            swiftSettings: swiftSettings),

        // The documents people read and sign off (D9): the review sheet (CSV, HTML and its
        // printed parts), what every printed page says; pure, no I/O.
        .target(name: "PaysignDocuments", dependencies: ["PaysignDomain", "PaysignText"], swiftSettings: swiftSettings),

        // The engines that turn documents into files people keep: Chromium and qpdf for PDF,
        // Python's openpyxl for the workbook (Debian's packages, run as programs, no shell).
        .target(
            name: "PaysignPrinting", dependencies: ["PaysignDocuments", "PaysignDomain", "PaysignText"],
            resources: [.embedInCode("Resources/workbook.py")], swiftSettings: swiftSettings),

        // The registry and the audit journal (SQLite through GRDB).
        .target(
            name: "PaysignStore",
            dependencies: ["PaysignDomain", "PaysignOpenSSL", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings),

        // The use cases (upload, review, reject, sign, PIN change, tokens, holders, the authority's
        // acts, CRLs, verification and presentation): typed inputs, outputs and errors, an injected
        // clock and time zone; no HTTP, no C.
        .target(
            name: "PaysignApplication",
            dependencies: ["PaysignSecrets", 
                "PaysignDomain", "PaysignStore", "PaysignTokens", "PaysignPKCS11", "PaysignOpenSSL", "PaysignVerification",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // Files opened as an attacker would arrange them: never through a link, judged on the
        // descriptor (a watched CRL file, the daemon's socket file).
        .target(name: "PaysignFiles", swiftSettings: swiftSettings),

        // systemd integration: socket activation (LISTEN_FDS) and sd_notify, no libsystemd.
        .target(name: "PaysignSystemd", swiftSettings: swiftSettings),

        // The daemon's edge: HTTP over the Unix socket, the API, the services.
        .target(
            name: "PaysignDaemon",
            dependencies: ["PaysignSecrets", 
                "PaysignApplication", "PaysignDomain", "PaysignTokens", "PaysignPKCS11", "PaysignPCSC", "PaysignOpenSSL",
                "PaysignStore", "PaysignSystemd", "PaysignClient", "PaysignVerification", "PaysignFiles", "PaysignAPI",
                "PaysignCenterLink", "PaysignDocuments", "PaysignText",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings),

        // The payment center's verification of signed orders (issue 6): facts from PaysignOpenSSL,
        // verdicts from PaysignDomain; used by the client (paysign verify) and, later, the daemon.
        .target(
            name: "PaysignVerification", dependencies: ["PaysignOpenSSL", "PaysignDomain"],
            swiftSettings: swiftSettings),

        // The API's contract: openapi.json is its one description; swift-openapi-generator's build
        // plugin makes the request and answer types the daemon and the client share.
        .target(
            name: "PaysignAPI",
            dependencies: [.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            resources: [.embedInCode("openapi.json")],
            // The generated files import with `package import`, which Swift before 6.4 reports as
            // unused in files that declare nothing (the generator silences it from 6.4 on). This
            // target holds only generated code and the embedded document.
            swiftSettings: [.unsafeFlags(["-suppress-warnings"])],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]),

        // The payment center's state in PostgreSQL (issue 18): submissions, acceptances decided
        // once across nodes by constraints, the center's hash-chained journal.
        .target(
            name: "PaysignCenterStore",
            dependencies: [
                "PaysignDomain", "PaysignStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // The payment center's use cases (issue 18): a submission opened on the center's HSM,
        // verified, recorded once across nodes, answered with a receipt signed on its token.
        .target(
            name: "PaysignCenterApplication",
            dependencies: [
                "PaysignCenterStore", "PaysignDomain", "PaysignOpenSSL", "PaysignTokens", "PaysignVerification",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),

        // The TLS link to the center (D8): TLS 1.3 with client certificates, the client's key on
        // its token (swift-nio-ssl's custom private key), the server's judgement of the client's
        // certificate by `SubmissionCertificateRule`.
        .target(
            name: "PaysignCenterLink",
            dependencies: [
                "PaysignDomain", "PaysignOpenSSL", "PaysignTokens", "PaysignPKCS11",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // The center's edge: HTTPS over the link, its routes, configuration and services.
        .target(
            name: "PaysignCenterServer",
            dependencies: [
                "PaysignCenterApplication", "PaysignCenterStore", "PaysignCenterLink", "PaysignDomain", "PaysignOpenSSL",
                "PaysignTokens", "PaysignPKCS11", "PaysignSecrets", "PaysignSystemd", "PaysignVerification",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.embedInCode("Resources/center-openapi.json")],
            swiftSettings: swiftSettings),

        // The client's side of the socket: HTTP/1.1 over a Unix socket, no event loop.
        .target(name: "PaysignClient", dependencies: ["PaysignAPI", "PaysignText"], swiftSettings: swiftSettings),

        // Edges.
        .executableTarget(
            name: "paysign",
            dependencies: [
                "PaysignSecrets", "PaysignTokens", "PaysignPKCS11", "PaysignOpenSSL", "PaysignPCSC", "PaysignClient", "CPaysignShims",
                "PaysignDomain", "PaysignVerification", "PaysignAPI", "PaysignCenterLink", "PaysignDocuments", "PaysignText", "PaysignPrinting",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "paysignd",
            dependencies: [
                "PaysignTokens", "PaysignDaemon", "PaysignSystemd", "PaysignStore", "PaysignDomain", "PaysignPCSC", "PaysignPKCS11",
                "CPaysignShims",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        .executableTarget(
            name: "paysign-center",
            dependencies: [
                "PaysignCenterServer", "PaysignCenterStore", "PaysignDomain", "PaysignOpenSSL", "PaysignSystemd", "CPaysignShims",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),


        // Benchmarks (make bench).
        .executableTarget(
            name: "paysign-bench", dependencies: ["PaysignSecrets", "PaysignTokens", "PaysignPKCS11", "PaysignOpenSSL", "PaysignClient", "PaysignDomain", "PaysignAPI"],
            path: "Benchmarks/paysign-bench", swiftSettings: swiftSettings),
        // Entities' load on paysign-center nodes: the cluster test and the center's benchmark.
        .executableTarget(
            name: "paysign-center-load",
            dependencies: [
                "PaysignCenterLink", "PaysignOpenSSL",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/center-load", swiftSettings: swiftSettings),
        // Signed orders for the verification tests and benchmark (scripts/bench-verify.sh): signs
        // on the SoftHSM tokens of a test PKI, in a process of its own.
        .executableTarget(
            name: "paysign-make-orders",
            dependencies: ["PaysignSecrets", 
                "PaysignTokens", "PaysignPKCS11", "PaysignOpenSSL", "PaysignDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/make-orders", swiftSettings: swiftSettings),

        // Tests.
        .target(
            name: "PaysignTestSupport", dependencies: ["PaysignClient"], path: "Tests/PaysignTestSupport",
            swiftSettings: swiftSettings),
        .testTarget(name: "PaysignPKCS11Tests", dependencies: ["PaysignSecrets", "PaysignPKCS11"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignOpenSSLTests",
            dependencies: ["PaysignOpenSSL", .product(name: "SwiftASN1", package: "swift-asn1")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignTokensTests",
            dependencies: ["PaysignSecrets", "PaysignTokens", "PaysignPKCS11", "PaysignOpenSSL", "PaysignPCSC", "PaysignTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignStoreTests", dependencies: ["PaysignStore", "PaysignDomain", "PaysignTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignSystemdTests", dependencies: ["PaysignSystemd", "PaysignTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignDaemonTests", dependencies: ["PaysignClient", "PaysignTestSupport", "PaysignDaemon", "PaysignDomain", "PaysignAPI", "PaysignApplication"],
            swiftSettings: swiftSettings),
        .testTarget(name: "PaysignDomainTests", dependencies: ["PaysignDomain", "PaysignDocuments", "PaysignText"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignCenterStoreTests",
            dependencies: [
                "PaysignCenterStore", "PaysignDomain", "PaysignTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignCenterTests",
            dependencies: [
                "PaysignCenterLink", "PaysignDomain", "PaysignOpenSSL", "PaysignTokens", "PaysignPKCS11", "PaysignSecrets",
                "PaysignTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignApplicationTests",
            dependencies: ["PaysignSecrets", 
                "PaysignApplication", "PaysignDomain", "PaysignStore", "PaysignTokens", "PaysignPKCS11", "PaysignOpenSSL", "PaysignTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignVerificationTests",
            dependencies: ["PaysignVerification", "PaysignOpenSSL", "PaysignDomain", "PaysignTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(name: "PaysignCLITests", dependencies: ["PaysignTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PaysignPCSCTests", dependencies: ["PaysignPCSC", "PaysignTestSupport"], swiftSettings: swiftSettings),

        // Hostile input (issue 8): the parsers of outside bytes run on mutated inputs. The harness
        // is shared by the short run in the test suite and the long libFuzzer run (`make fuzz`,
        // scripts/fuzz.sh), whose executable only exists when PAYSIGN_FUZZ=1 (below).
        .target(
            name: "PaysignFuzzHarness",
            dependencies: ["PaysignSecrets", "PaysignDomain", "PaysignOpenSSL", "PaysignPKCS11", "PaysignDaemon", "PaysignAPI"],
            path: "Fuzz/Harness",
            swiftSettings: swiftSettings + [.define("PAYSIGN_TESTABLE", .when(configuration: .debug))]),
        .testTarget(
            name: "PaysignFuzzTests",
            dependencies: ["PaysignSecrets", "PaysignFuzzHarness", "PaysignDomain", "PaysignDaemon", "PaysignOpenSSL", "PaysignPKCS11"],
            swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer executable (scripts/fuzz.sh builds it with -sanitize=fuzzer,address in a scratch
// path of its own): never part of the normal build.
if Context.environment["PAYSIGN_FUZZ"] == "1" {
    package.targets.append(
        .executableTarget(
            name: "paysign-fuzz", dependencies: ["PaysignFuzzHarness"], path: "Fuzz/paysign-fuzz",
            swiftSettings: swiftSettings))
}

import Foundation
import Logging
import NIOSSL
import PaysignApplication
import PaysignCenterLink
import PaysignOpenSSL
import PaysignPKCS11
import PaysignSecrets
import PaysignStore
import PaysignSystemd
import PaysignTokens
import PaysignVerification
import ServiceLifecycle
import Synchronization

/// The delivery of payable orders to the payment center (issue 18, D8), as a service of the
/// daemon: every `delivery-interval-seconds` the outbox's due entries go to `DeliveryDesk`, which
/// seals, sends and records. The link is mutual TLS 1.3 whose client key is the entity's
/// submission key, signing the handshake on its token (`TokenTLSKey`); its PIN is the credential
/// `submission-pin`.
///
/// The token is opened and logged in when the first delivery is due, and again after it is
/// removed. A wrong PIN is never tried twice: delivery stops, logged, until the daemon restarts
/// with the right credential. Without `center` the service only waits for shutdown: payable orders
/// stay in the outbox.
struct DeliveryService: Service {
    let configuration: DaemonConfiguration
    let registry: Registry
    let tokens: TokenService
    let logger: Logger

    func run() async throws {
        guard let centerAddress = configuration.center else {
            try? await gracefulShutdown()
            return
        }
        let desk: DeliveryDesk
        do {
            desk = try makeDesk(centerAddress)
        } catch {
            logger.error("orders will not be delivered to the payment center: \(error)")
            try? await gracefulShutdown()
            return
        }
        let interval = configuration.deliveryIntervalSeconds
        // Where accepted orders stand at the center (paid, returned): asked every twelve rounds.
        try await untilShutdown {
            var round = 0
            while !Task.isCancelled {
                await desk.deliverDue()
                if round % 12 == 11 { await desk.refreshCenterStates() }
                round += 1
                try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            }
        }
    }

    func makeDesk(_ address: String) throws -> DeliveryDesk {
        let endpoint = try CenterEndpoint(parsing: address, serverName: configuration.centerName)
        let encryption = try Self.certificate(configuration.centerEncryptionCertificate!, "center-encryption-certificate")
        let receipt = try Self.certificate(configuration.centerReceiptCertificate!, "center-receipt-certificate")
        let anchors = try TrustMaterial.anchors(at: configuration.trustAnchors!)
        let link = CenterLink(
            endpoint: endpoint, anchors: anchors, keyURI: try PKCS11URI(configuration.submissionKey!), tokens: tokens, logger: logger)
        return DeliveryDesk(
            registry: registry, center: link, encryptionCertificate: encryption,
            oaep: configuration.centerOAEPHash == "sha1" ? .sha1 : .sha256, receiptCertificate: receipt, anchors: anchors, logger: logger)
    }

    static func certificate(_ path: String, _ key: String) throws -> Certificate {
        guard let data = FileManager.default.contents(atPath: path) else { throw DaemonError("\(key) \(path) cannot be read") }
        do {
            return try Certificate(pemEncoded: String(decoding: data, as: UTF8.self))
        } catch {
            throw DaemonError("\(key) \(path) is not a PEM certificate: \(error)")
        }
    }
}

/// The link to the center with the submission key on its token: opened (and logged in) on first
/// use, reopened after the token is removed, never logged in twice with a PIN that failed.
final class CenterLink: CenterSubmitting {
    let endpoint: CenterEndpoint
    let anchors: [NIOSSLCertificate]
    let keyURI: PKCS11URI
    let tokens: TokenService
    let logger: Logger
    private let state = Mutex<(client: CenterClient?, signer: TokenSigner?, refused: String?)>((nil, nil, nil))

    init(endpoint: CenterEndpoint, anchors: [Certificate], keyURI: PKCS11URI, tokens: TokenService, logger: Logger) {
        self.endpoint = endpoint
        self.anchors = anchors.compactMap { try? NIOSSLCertificate(bytes: $0.derEncoded, format: .der) }
        self.keyURI = keyURI
        self.tokens = tokens
        self.logger = logger
    }

    func submit(envelope: [UInt8]) async throws -> CenterReply {
        let client = try await client()
        let response = try await client.send("POST", "/v1/submissions", headers: [("Content-Type", "application/cms")], body: envelope)
        return CenterReply(status: response.status, contentType: response.header("Content-Type"), body: response.body)
    }

    func status(submission: Int64) async throws -> CenterReply {
        let client = try await client()
        let response = try await client.send("GET", "/v1/submissions/\(submission)")
        return CenterReply(status: response.status, contentType: response.header("Content-Type"), body: response.body)
    }

    private func client() async throws -> CenterClient {
        let (kept, signer, refused) = state.withLock { ($0.client, $0.signer, $0.refused) }
        if let refused { throw DaemonError(refused) }
        if let kept, signer?.isUsable == true { return kept }
        if let signer { await signer.session.close() }
        let opened = try await tokens.signer(for: keyURI)
        do {
            let pin = PIN(try SystemdCredentials().secret("submission-pin"))
            try await opened.login(pin: pin)
        } catch let error as PKCS11Error where error.code == .pinIncorrect || error.code == .pinLocked {
            await opened.session.close()
            let sentence = "the submission token's PIN (credential submission-pin) was refused (\(error.message)); delivery stops until paysignd restarts with the right one (a wrong PIN is never tried again)"
            state.withLock { $0.refused = sentence }
            logger.error("\(sentence)")
            throw DaemonError(sentence)
        } catch {
            await opened.session.close()
            throw error
        }
        let chain = try NIOSSLCertificate(bytes: opened.certificate.derEncoded, format: .der)
        let client = try CenterClient(
            endpoint: endpoint, anchors: anchors, chain: [chain],
            key: NIOSSLPrivateKey(customPrivateKey: try TokenTLSKey(signer: opened)))
        state.withLock { $0 = (client, opened, nil) }
        logger.notice("the link to the payment center at \(endpoint.host):\(endpoint.port) uses the submission key \(opened.keyURI)")
        return client
    }
}

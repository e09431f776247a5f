import Foundation
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import X509

/// Sits right behind the TLS handler of one connection and lets nothing through to the
/// transport until the handshake finished and the peer passed every check: the handshake must
/// end within the timeout, and, when an allow-list is set, the verified certificate must name an
/// allowed peer. A refusal is logged with its reason (diagnosed from the peer's certificate when
/// it sent one) and closes the connection; for a dialed connection it also fails the dial.
///
/// It never forwards a handshake error: the transport behind it has nothing to add, and a
/// refused peer is one warning, not one per handler.
final class TLSHandshakeGate: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Which side of the connection this node is, and who the other side is, for logs.
    enum Side {
        case accepted(from: String)
        case dialed(to: String)
    }

    private enum State { case handshaking, open, refused }

    private let side: Side
    private let contexts: TLSContexts
    private let tls: NIOSSLHandler
    private let logger: Logger
    private let handshakeDone: EventLoopPromise<Void>?
    private var state = State.handshaking
    private var timeout: Scheduled<Void>?

    /// A gate for the connection whose TLS handler is `tls`, checking against `contexts`'
    /// configuration; `handshakeDone` (for a dial) is completed once the peer passed or failed.
    init(side: Side, contexts: TLSContexts, tls: NIOSSLHandler, logger: Logger, handshakeDone: EventLoopPromise<Void>?) {
        self.side = side
        self.contexts = contexts
        self.tls = tls
        self.logger = logger
        self.handshakeDone = handshakeDone
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let limit = contexts.configuration.handshakeTimeout
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: TimeAmount(limit)) {
            let (gate, context) = loopBound.value
            guard case .handshaking = gate.state else { return }
            gate.refuse(context, TLSStreamLayerError(.handshakeTimedOut, "the TLS handshake \(gate.sideText) did not finish within \(limit)"))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .handshaking = state, let event = event as? TLSUserEvent, case .handshakeCompleted = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        timeout?.cancel()
        if let refusal = allowListRefusal() {
            refuse(context, refusal)
            return
        }
        state = .open
        handshakeDone?.succeed()
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // NIOSSL delivers no application data before the handshake completes, and the event
        // that completes it reaches this gate first; once refused, what is still in flight is
        // dropped on the floor.
        guard case .open = state else { return }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard case .handshaking = state else {
            if case .open = state { context.fireErrorCaught(error) }
            return
        }
        refuse(context, TLSStreamLayerError(.handshakeFailed, "TLS handshake \(sideText) failed: \(diagnosis(of: error))"))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .handshaking = state {
            timeout?.cancel()
            state = .refused
            let error = TLSStreamLayerError(
                .handshakeFailed,
                "TLS handshake \(sideText) failed: the peer closed the connection (does it speak TLS, and trust this node's certificate?)"
            )
            logger.warning("\(error)")
            handshakeDone?.fail(error)
        }
        context.fireChannelInactive()
    }

    private var sideText: String {
        switch side {
        case .accepted(let remote): return "with \(remote) (accepted)"
        case .dialed(let target): return "with \(target) (dialed)"
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ error: TLSStreamLayerError) {
        state = .refused
        logger.warning("refused a connection: \(error)")
        handshakeDone?.fail(error)
        context.close(promise: nil)
    }

    /// Why a verified peer is still not welcome: its certificate names none of the allowed peers.
    private func allowListRefusal() -> TLSStreamLayerError? {
        let allowed = contexts.configuration.allowedPeerNames
        guard !allowed.isEmpty else { return nil }
        guard let certificate = peerCertificate else {
            // A server that does not require client certificates has nothing to check a client
            // against, so an allow-list means "only these": no certificate, no entry.
            return TLSStreamLayerError(.peerNotAllowed, "the peer \(sideText) presented no certificate, and an allow-list is set")
        }
        if !allowed.isDisjoint(with: certificate.subjectAlternativeNameStrings) { return nil }
        return TLSStreamLayerError(
            .peerNotAllowed,
            "the certificate of the peer \(sideText), \(certificate.summary), names none of the allowed peers \(allowed.sorted())"
        )
    }

    private var peerCertificate: Certificate? {
        guard let peer = tls.peerCertificate, let der = try? peer.toDERBytes() else { return nil }
        return try? Certificate(derEncoded: der)
    }

    /// BoringSSL's reason, and, when the peer sent a certificate, what is wrong with it in words:
    /// BoringSSL itself says only CERTIFICATE_VERIFY_FAILED for an expired certificate and for
    /// one from a stranger alike.
    private func diagnosis(of error: any Error) -> String {
        guard let certificate = peerCertificate else {
            let text = "\(error)"
            if text.contains("WRONG_VERSION_NUMBER") || text.contains("HTTP_REQUEST") {
                return "the peer does not speak TLS (a node without TLS?) (\(text))"
            }
            if text.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") {
                return "the peer presented no client certificate, and this server requires one (\(text))"
            }
            return text
        }
        let now = Date()
        if certificate.notValidAfter < now {
            return "its certificate \(certificate.summary) expired on \(certificate.notValidAfter) (\(error))"
        }
        if certificate.notValidBefore > now {
            return "its certificate \(certificate.summary) is not valid before \(certificate.notValidBefore) (\(error))"
        }
        if !contexts.trustedIssuers.contains(certificate.issuer) {
            return "its certificate \(certificate.summary) was issued by \(certificate.issuer), which is not a trusted authority (\(error))"
        }
        return "\(error) (its certificate: \(certificate.summary))"
    }
}

/// Domain-separation tags (SPEC.md §2.2). Every signed or hashed object starts with
/// `u8 len(tag) || tag`, so a signature made for one purpose never verifies for another.
public enum SigningDomain: String, Sendable, CaseIterable {
    case entry = "tiergate/v1/entry"
    case roster = "tiergate/v1/roster"
    case fingerprint = "tiergate/v1/fingerprint"
    case digest = "tiergate/v1/digest"
    case token = "tiergate/v1/token"
    case attestation = "tiergate/v1/attestation"
    /// The prologue of the node handshake (SPEC.md §12): binds every session to one lab's genesis.
    case noise = "tiergate/v1/noise"
    /// A handshake identity signature over the Noise handshake hash (SPEC.md §12.3).
    case handshake = "tiergate/v1/handshake"
    /// Ring-signature challenges and hash points (SPEC.md §2.5).
    case ring = "tiergate/v1/ring"
    case ringPoint = "tiergate/v1/ring-point"

    /// `u8 length || ASCII tag`.
    public var prefix: [UInt8] {
        let tag = Array(rawValue.utf8)
        return [UInt8(tag.count)] + tag
    }

    /// The exact bytes given to Ed25519 (or hashed): the tag prefix followed by the canonical content.
    public func message(_ content: [UInt8]) -> [UInt8] {
        prefix + content
    }
}

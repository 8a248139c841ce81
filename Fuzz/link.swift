// libFuzzer target `link`: one end of a secure node link (SPEC.md §12, Sources/TiergateCore/Noise/SecureLink.swift),
// the state machine every byte of a connection goes through before anything else reads it.
//
// Input: a selector byte, then a payload. `selector & 3` is the mode:
//   0  the payload is a byte stream from a dialer, fed to a fresh responder (bob);
//   1  the payload is a byte stream from a listener, fed to a fresh initiator (alice) after its start();
//   2  the payload edits the dialer's side of the fixed session (message 1, message 3, five sealed transport
//      messages: FuzzLink.session.dialer), and the result is fed to a fresh responder;
//   3  the payload edits the listener's side (message 2, five sealed messages), fed to a fresh initiator.
// `selector & 4`: `authorize` refuses every key (else it admits every key). Modes 2 and 3: with `selector & 8` the
// payload is a list of 5-byte edits [op, i, hi, lo, v] on the list of messages (op % 8: 0 XOR byte hi·lo of message
// i with v, 1 set that byte to v, 2 truncate message i to hi·lo bytes, 3 insert a copy of message i at hi·lo,
// 4 delete message i, 5 swap messages i and hi·lo, 6 keep the first i messages, 7 insert the bytes [hi, lo, v] at
// i; indices modulo the count), else it is `u16 offset || mask`, XORed over the transcript from that offset.
// Both ends use the keys, genesis and ephemeral keys of protocol-spec/vectors/noise.json (FuzzLink in
// Shared/FuzzSupport.swift), so the vector's wire bytes complete a handshake and decrypt in modes 0 and 1 too.
//
// The stream is fed to a link byte by byte (the reference run, which tags each output with the stream offset at
// which it was produced; beyond 4 KiB only at the offsets where a message's length or body completes, to bound the
// cost), in one piece, and in 1–3 chunks split at input-derived points. Checked properties:
// - nothing traps;
// - chunking changes nothing: each call returns exactly the reference outputs produced within its bytes, and the
//   link fails with the same error in the call that holds the byte at which the reference failed (a call that
//   throws returns nothing: outputs of its earlier messages go with it); the final states agree;
// - the outputs have the protocol's shape: a responder sends message 2 (194 bytes, its fixed ephemeral key first;
//   exactly the vector's when message 1 is) at offset 34 and reports .established at offset 196 (message 3); an
//   initiator's start() is exactly the vector's message 1, and at offset 194 it sends message 3 (162 bytes; exactly
//   the vector's when message 2 is) and reports .established; plaintexts come only after .established, each from
//   a message of exactly 2 + 16 + its size bytes;
// - authorize is asked at most once; .established(k) iff it was asked about k and admitted it; a refusal fails the
//   link with .refused(reason), after which a responder (only) holds an encrypted ERROR (`farewell`);
// - a link that did not fail holds no complete message (it never sits on input), is established iff it reported
//   .established, with that peer, and seals (or refuses to) accordingly; no farewell without a refusal;
// - a failed link accepts nothing more (receive throws .unexpected, also given valid bytes) and seals nothing;
// - modes 2 and 3, tampering: a model of §12.2–12.3 predicts the outcome from the edited stream alone. The link
//   reports the outputs of exactly the leading messages that are byte-identical to the genuine message at their
//   position — message 2 / message 3 and .established, then the original plaintexts in order — and nothing after
//   the first message that differs, except that a responder answers an altered message 1 with a message 2 for the
//   key it received (which cannot lead anywhere). So altering any byte of message 1, 2 or 3 means no .established
//   and no plaintext. The link fails iff that first differing message is complete in the stream or announces a
//   length the protocol forbids (not when the stream is merely cut short), with the predicted error (badMessage
//   for a length other than 32/192/160 in the handshake or below 16 after it, badPeerKey for a small-order
//   ephemeral key, refused when authorize refuses the genuine peer, else authenticationFailed) at the predicted
//   byte. An established link seals bytes that the fixed peer opens; a refusing responder's farewell opens at the
//   peer as ERROR(reason).
// Crypto is real (libsodium): the model relies only on the fuzzer being unable to forge a tag or a signature.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    // The checks live in Model/LinkModel.swift, shared with FuzzRegressionTests.
    LinkModel(fail: { fuzzInvariant(false, $0) }).check(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

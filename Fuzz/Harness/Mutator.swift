/// A deterministic mutator for the short fuzz runs of the test suite (the long run uses
/// libFuzzer's own): the same seed gives the same inputs on every machine, so a failure found in
/// `make test` is found again by running the test again.
///
/// Each input is a valid seed with one to four stacked changes: bit flips, bytes set to boundary
/// values, truncations, deletions, insertions (random, repeated, or a token of the target's
/// dictionary), duplicated ranges, splices with another seed, and, in DER, length fields set to
/// boundary values (0, one less, one more, 0x7F, indefinite 0x80, long forms up to 0x84 FF FF FF FF).
public struct Mutator: Sendable {
    /// SplitMix64: small, fast, and good enough to spread mutations.
    public struct Random: Sendable {
        var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// 0..<bound (bound > 0).
        public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
        public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    }

    public var random: Random
    public let seeds: [[UInt8]]
    public let dictionary: [[UInt8]]
    public let maximumLength: Int
    /// Offsets of DER length fields in each seed (empty for text seeds).
    private let lengthFields: [[Int]]

    public init(seed: UInt64, seeds: [[UInt8]], dictionary: [[UInt8]], maximumLength: Int) {
        precondition(!seeds.isEmpty, "a mutator needs at least one seed")
        random = Random(seed: seed)
        self.seeds = seeds
        self.dictionary = dictionary
        self.maximumLength = maximumLength
        lengthFields = seeds.map(Self.derLengthOffsets)
    }

    static let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0x81, 0xFE, 0xFF, 0x0A, 0x0D, 0x22, 0x2C, 0x5C, 0x25, 0x3B, 0x3F, 0x3D, 0x3A, 0x7B, 0x7D, 0x20, 0x30, 0x39, 0xC0, 0xEF]

    /// The next input: a seed, changed.
    public mutating func next() -> [UInt8] {
        let which = random.below(seeds.count)
        var bytes = seeds[which]
        let rounds = 1 + random.below(4)
        for _ in 0..<rounds { mutate(&bytes, seedIndex: which) }
        if bytes.count > maximumLength { bytes.removeLast(bytes.count - maximumLength) }
        return bytes
    }

    private mutating func position(in bytes: [UInt8], end: Bool = false) -> Int {
        random.below(bytes.count + (end ? 1 : 0))
    }

    mutating func mutate(_ bytes: inout [UInt8], seedIndex: Int) {
        if bytes.isEmpty {
            bytes = dictionary.isEmpty ? [Self.interesting[random.below(Self.interesting.count)]] : dictionary[random.below(dictionary.count)]
            return
        }
        switch random.below(12) {
        case 0:  // flip one bit
            let i = position(in: bytes)
            bytes[i] ^= 1 << UInt8(random.below(8))
        case 1:  // a byte set to a boundary or structural value
            bytes[position(in: bytes)] = Self.interesting[random.below(Self.interesting.count)]
        case 2:  // a random byte
            bytes[position(in: bytes)] = UInt8(truncatingIfNeeded: random.next())
        case 3:  // truncate
            bytes.removeLast(1 + random.below(bytes.count))
        case 4:  // delete a range
            let start = position(in: bytes)
            let count = 1 + random.below(min(16, bytes.count - start))
            bytes.removeSubrange(start..<(start + count))
        case 5:  // insert random bytes, or one byte repeated (long runs find quadratic paths)
            let at = position(in: bytes, end: true)
            if random.chance(50) {
                let count = 1 + random.below(8)
                bytes.insert(contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: at)
            } else {
                let count = random.chance(80) ? 1 + random.below(64) : 1 + random.below(4096)
                bytes.insert(contentsOf: repeatElement(Self.interesting[random.below(Self.interesting.count)], count: count), at: at)
            }
        case 6, 7:  // a dictionary token
            guard !dictionary.isEmpty else {
                bytes[position(in: bytes)] = Self.interesting[random.below(Self.interesting.count)]
                return
            }
            let token = dictionary[random.below(dictionary.count)]
            if random.chance(60) {
                bytes.insert(contentsOf: token, at: position(in: bytes, end: true))
            } else {
                let start = position(in: bytes)
                let end = min(bytes.count, start + token.count)
                bytes.replaceSubrange(start..<end, with: token)
            }
        case 8:  // duplicate a range
            let start = position(in: bytes)
            let count = 1 + random.below(min(64, bytes.count - start))
            let piece = Array(bytes[start..<(start + count)])
            bytes.insert(contentsOf: piece, at: position(in: bytes, end: true))
        case 9:  // splice with another seed
            let other = seeds[random.below(seeds.count)]
            guard !other.isEmpty else { return }
            let cut = position(in: bytes, end: true)
            let from = random.below(other.count)
            bytes = Array(bytes[..<cut]) + Array(other[from...])
        case 10, 11:  // a DER length field set to a boundary value
            let offsets = lengthFields[seedIndex].filter { $0 < bytes.count }
            guard !offsets.isEmpty else {
                bytes[position(in: bytes)] = Self.interesting[random.below(Self.interesting.count)]
                return
            }
            let at = offsets[random.below(offsets.count)]
            let old = bytes[at]
            let choices: [[UInt8]] = [[0x00], [old &- 1], [old &+ 1], [0x7F], [0x80], [0x81, 0x80], [0x81, 0xFF],
                                      [0x82, 0xFF, 0xFF], [0x84, 0xFF, 0xFF, 0xFF, 0xFF], [0x84, 0x7F, 0xFF, 0xFF, 0xFF],
                                      [0x89, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]]
            let replacement = choices[random.below(choices.count)]
            // Replace the whole length field (short or long form).
            var width = 1
            if old & 0x80 != 0 { width += Int(old & 0x7F) }
            bytes.replaceSubrange(at..<min(bytes.count, at + width), with: replacement)
        default:
            break
        }
    }

    /// The offsets of every length octet of a DER encoding, walking constructed values; empty
    /// when the bytes are not DER.
    static func derLengthOffsets(_ bytes: [UInt8]) -> [Int] {
        var offsets: [Int] = []
        func walk(_ start: Int, _ end: Int, depth: Int) {
            var i = start
            while i < end, depth < 32, offsets.count < 4096 {
                let tag = bytes[i]
                i += 1
                if tag & 0x1F == 0x1F {  // high tag number
                    while i < end, bytes[i] & 0x80 != 0 { i += 1 }
                    i += 1
                }
                guard i < end else { return }
                let lengthAt = i
                var length = Int(bytes[i])
                i += 1
                if length & 0x80 != 0 {
                    let count = length & 0x7F
                    guard count > 0, count <= 4, i + count <= end else { return }
                    length = 0
                    for k in 0..<count { length = length << 8 | Int(bytes[i + k]) }
                    i += count
                }
                guard i + length <= end else { return }
                offsets.append(lengthAt)
                if tag & 0x20 != 0 { walk(i, i + length, depth: depth + 1) }
                i += length
            }
        }
        if bytes.first == 0x30 { walk(0, bytes.count, depth: 0) }
        return offsets
    }
}

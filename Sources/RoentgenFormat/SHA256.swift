// SHA-256 (FIPS 180-4), enough to check a model file's checksum without pulling in a crypto package:
// the library depends on no Swift package. On x86-64 with the SHA extensions the blocks are
// compressed by `rtg_sha256_blocks` (CRoentgenISA), else by the loop below.
import CRoentgenISA

public enum SHA256 {
    /// Whether this CPU compresses with the SHA extensions (tests compare both paths).
    public static let accelerated = rtg_sha256_accelerated() != 0

    /// Incremental hasher: `update` with any number of byte ranges, then `finish`.
    public struct Hasher {
        private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
        private var block = [UInt8](repeating: 0, count: 64)
        private var blockCount = 0
        private var totalBytes: UInt64 = 0

        private let useExtensions: Bool

        /// `accelerated: false` forces the portable loop.
        public init(accelerated: Bool = SHA256.accelerated) { useExtensions = accelerated && SHA256.accelerated }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count > 0 else { return }
            totalBytes &+= UInt64(bytes.count)
            var index = 0
            if blockCount > 0 {
                while blockCount < 64 && index < bytes.count { block[blockCount] = bytes[index]; blockCount += 1; index += 1 }
                if blockCount == 64 { block.withUnsafeBytes { compress($0.baseAddress!, blocks: 1) }; blockCount = 0 }
            }
            let whole = (bytes.count - index) / 64
            if whole > 0 { compress(bytes.baseAddress! + index, blocks: whole); index += 64 * whole }
            while index < bytes.count { block[blockCount] = bytes[index]; blockCount += 1; index += 1 }
        }

        public mutating func finish() -> [UInt8] {
            let bitLength = totalBytes &* 8
            var padding: [UInt8] = [0x80]
            let used = Int(totalBytes % 64) + 1
            padding += [UInt8](repeating: 0, count: (used <= 56 ? 56 - used : 120 - used))
            for shift in stride(from: 56, through: 0, by: -8) { padding.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
            let saved = totalBytes
            padding.withUnsafeBytes { update($0) }
            totalBytes = saved
            let words = [state.0, state.1, state.2, state.3, state.4, state.5, state.6, state.7]
            return words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> UInt32(24 - 8 * $0)) } }
        }

        /// Compresses `blocks` consecutive 64-byte blocks; one schedule buffer for all of them.
        private mutating func compress(_ p: UnsafeRawPointer, blocks: Int) {
            if useExtensions {
                withUnsafeMutableBytes(of: &state) { s in
                    rtg_sha256_blocks(s.baseAddress!.assumingMemoryBound(to: UInt32.self), p.assumingMemoryBound(to: UInt8.self), blocks)
                }
                return
            }
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
                withUnsafePointer(to: rtg_sha256_k) { table in
                    let w = w.baseAddress!, k = UnsafeRawPointer(table).assumingMemoryBound(to: UInt32.self)
                    var (h0, h1, h2, h3, h4, h5, h6, h7) = state
                    for b in 0..<blocks {
                        let block = p + 64 * b
                        for i in 0..<16 { w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
                        for i in 16..<64 {
                            let x = w[i - 15], y = w[i - 2]
                            let s0 = x.rotr(7) ^ x.rotr(18) ^ (x &>> 3)
                            let s1 = y.rotr(17) ^ y.rotr(19) ^ (y &>> 10)
                            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
                        }
                        var (a, b, c, d, e, f, g, h) = (h0, h1, h2, h3, h4, h5, h6, h7)
                        for i in 0..<64 {
                            let t1 = h &+ (e.rotr(6) ^ e.rotr(11) ^ e.rotr(25)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                            let t2 = (a.rotr(2) ^ a.rotr(13) ^ a.rotr(22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                            h = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
                        }
                        h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d; h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
                    }
                    state = (h0, h1, h2, h3, h4, h5, h6, h7)
                }
            }
        }
    }

    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = Hasher()
        hasher.update(bytes)
        return hasher.finish()
    }

    public static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(digest.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }
}

extension UInt32 {
    @inline(__always) fileprivate func rotr(_ n: UInt32) -> UInt32 { (self &>> n) | (self &<< (32 &- n)) }
}

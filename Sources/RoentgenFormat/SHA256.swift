// SHA-256 (FIPS 180-4), enough to check a model file's checksum without pulling in a crypto package:
// the library depends on no Swift package. On x86-64 with the SHA extensions the blocks are
// compressed by `rtg_sha256_blocks` (CRoentgenISA), else by the loop below.
import CRoentgenISA

public enum SHA256 {
    /// Whether this CPU compresses with the SHA extensions (tests compare both paths).
    public static let accelerated = rtg_sha256_accelerated() != 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

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
                SHA256.k.withUnsafeBufferPointer { k in
                    let w = w.baseAddress!, k = k.baseAddress!
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

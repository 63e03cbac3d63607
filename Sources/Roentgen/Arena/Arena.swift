// The one block of memory inference writes: `ArenaPlan.totalBytes`, 64-byte aligned, allocated at
// load and reused for every image, so inference itself never allocates. It holds the activations
// (at the offsets the reader verified) and every op's kernel scratch (ArenaPlan).

import RoentgenFormat

public final class Arena: @unchecked Sendable {
    public let plan: ArenaPlan
    public let base: UnsafeMutableRawPointer

    /// Bytes allocated past `plan.totalBytes`, so that a vector load at the very end of the last
    /// activation stays inside the allocation. Not part of the plan (nothing is placed there).
    static let slack = 64

    public init(plan: ArenaPlan) {
        self.plan = plan
        let bytes = plan.totalBytes + Self.slack
        base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: FormatVersion.alignment)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    deinit { base.deallocate() }

    /// The arena's size as planned (activations and scratch).
    public var size: Int { plan.totalBytes }

    /// An activation's place.
    @inline(__always)
    public func pointer<T>(_ tensor: Int, as: T.Type) -> UnsafeMutablePointer<T> {
        (base + plan.activations[tensor]!.lowerBound).assumingMemoryBound(to: T.self)
    }

    /// Op `index`'s scratch, 64-byte aligned (its length is the op's `scratchBytes`).
    @inline(__always)
    public func scratch(forOp index: Int) -> UnsafeMutableRawPointer { base + plan.scratch[index].lowerBound }
}

// The one block of memory inference uses: exactly the planned size, 64-byte aligned,
// allocated at load and reused for every image, so inference itself never allocates.
// The plan it follows was verified by the reader (RoentgenFormat/PlanVerifier.swift).

import RoentgenFormat

public final class Arena: @unchecked Sendable {
    public let plan: MemoryPlan
    public let base: UnsafeMutableRawPointer

    public init(plan: MemoryPlan) {
        self.plan = plan
        base = UnsafeMutableRawPointer.allocate(byteCount: max(plan.arenaSize, 1), alignment: FormatVersion.alignment)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(plan.arenaSize, 1))
    }

    deinit { base.deallocate() }

    public var size: Int { plan.arenaSize }

    @inline(__always)
    public func pointer<T>(_ tensor: Int, as: T.Type) -> UnsafeMutablePointer<T> {
        (base + plan.offsets[tensor]!).assumingMemoryBound(to: T.self)
    }
}

// Accuracy, agreement and probability differences of an int8 model against its float model.

/// One image's result under both models.
public struct ImageComparison: Sendable {
    public let path: String
    /// The true class index, or nil without a label.
    public let truth: Int?
    public let floatIndex: Int
    public let int8Index: Int
    /// Largest |p_float - p_int8| over the classes (scores for an SVM, which has no probabilities).
    public let maxAbsDifference: Double
    /// Mean over the classes of |p_float - p_int8|.
    public let meanAbsDifference: Double
}

/// A classes x classes count matrix: rows = true (or float) class, columns = predicted (int8) class.
public struct ConfusionMatrix: Sendable, Equatable {
    public let labels: [String]
    public private(set) var counts: [[Int]]

    public init(labels: [String]) {
        self.labels = labels
        counts = Array(repeating: Array(repeating: 0, count: labels.count), count: labels.count)
    }

    public mutating func add(row: Int, column: Int) { counts[row][column] += 1 }
    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }
    public var diagonal: Int { counts.indices.reduce(0) { $0 + counts[$1][$1] } }
    public func rowTotal(_ r: Int) -> Int { counts[r].reduce(0, +) }
    /// Diagonal / row total, nil for a class without images.
    public func recall(_ r: Int) -> Double? {
        let n = rowTotal(r)
        return n > 0 ? Double(counts[r][r]) / Double(n) : nil
    }

    /// CSV with a header row: `true\predicted,<labels...>`, then one row per class.
    public func csv(corner: String) -> String {
        var lines = [([corner] + labels).map(ConfusionMatrix.csvQuote).joined(separator: ",")]
        for (i, row) in counts.enumerated() {
            lines.append(([ConfusionMatrix.csvQuote(labels[i])] + row.map(String.init)).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func csvQuote(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

/// Everything `verify` reports except the per-layer errors.
public struct VerificationMetrics: Sendable {
    public let labels: [String]
    public private(set) var images: [ImageComparison] = []
    /// Rows: true class; only labelled images.
    public private(set) var floatConfusion: ConfusionMatrix
    public private(set) var int8Confusion: ConfusionMatrix
    /// Rows: float prediction, columns: int8 prediction; every image.
    public private(set) var agreementMatrix: ConfusionMatrix

    public init(labels: [String]) {
        self.labels = labels
        floatConfusion = ConfusionMatrix(labels: labels)
        int8Confusion = ConfusionMatrix(labels: labels)
        agreementMatrix = ConfusionMatrix(labels: labels)
    }

    /// `floatScores`/`int8Scores`: probabilities (or SVM decision values) of both models.
    public mutating func add(path: String, truth: Int?, floatScores: [Double], int8Scores: [Double]) {
        let f = VerificationMetrics.argmax(floatScores), q = VerificationMetrics.argmax(int8Scores)
        var maxDiff = 0.0, sumDiff = 0.0
        for (a, b) in zip(floatScores, int8Scores) {
            maxDiff = max(maxDiff, abs(a - b))
            sumDiff += abs(a - b)
        }
        images.append(ImageComparison(path: path, truth: truth, floatIndex: f, int8Index: q, maxAbsDifference: maxDiff,
                                      meanAbsDifference: floatScores.isEmpty ? 0 : sumDiff / Double(floatScores.count)))
        agreementMatrix.add(row: f, column: q)
        if let truth {
            floatConfusion.add(row: truth, column: f)
            int8Confusion.add(row: truth, column: q)
        }
    }

    /// First index of the maximum, like the runtime's.
    static func argmax(_ v: [Double]) -> Int { v.indices.max { v[$0] < v[$1] || (v[$0] == v[$1] && $0 > $1) } ?? 0 }

    public var count: Int { images.count }
    public var labelledCount: Int { floatConfusion.total }
    public var hasLabels: Bool { labelledCount > 0 }
    /// Fraction of images where both models pick the same class.
    public var agreement: Double { count > 0 ? Double(agreementMatrix.diagonal) / Double(count) : .nan }
    public var floatAccuracy: Double? { hasLabels ? Double(floatConfusion.diagonal) / Double(labelledCount) : nil }
    public var int8Accuracy: Double? { hasLabels ? Double(int8Confusion.diagonal) / Double(labelledCount) : nil }
    /// float accuracy - int8 accuracy (positive: int8 is worse).
    public var accuracyDrop: Double? { floatAccuracy.flatMap { f in int8Accuracy.map { f - $0 } } }
    /// Mean over images and classes of |p_float - p_int8|.
    public var meanAbsDifference: Double { count > 0 ? images.reduce(0) { $0 + $1.meanAbsDifference } / Double(count) : .nan }
    public var maxAbsDifference: Double { images.reduce(0) { max($0, $1.maxAbsDifference) } }
    public var disagreements: [ImageComparison] { images.filter { $0.floatIndex != $0.int8Index } }
}

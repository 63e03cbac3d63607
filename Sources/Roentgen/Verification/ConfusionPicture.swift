// Confusion matrices drawn side by side into one PNG: class names on the rows (true class) and,
// turned upright, on the columns (predicted class); each cell shows its count, shaded by its share
// of the row (blue on the diagonal, red off it). Empty cells stay blank.

import RoentgenImage

public struct ConfusionPanel: Sendable {
    public let title: String
    public let matrix: ConfusionMatrix
    public let rowAxis: String
    public let columnAxis: String
    public init(title: String, matrix: ConfusionMatrix, rowAxis: String = "true class", columnAxis: String = "predicted") {
        self.title = title; self.matrix = matrix; self.rowAxis = rowAxis; self.columnAxis = columnAxis
    }
}

public enum ConfusionPicture {
    static let scale = 2
    static let cell = 40
    static let margin = 20
    static let gap = 48

    /// PNG bytes of the panels side by side.
    public static func png(_ panels: [ConfusionPanel]) throws(ImageError) -> [UInt8] {
        var sizes: [(w: Int, h: Int, labelW: Int, headerH: Int)] = []
        for p in panels {
            let n = p.matrix.labels.count
            let labelW = (p.matrix.labels.map { BitmapFont.width($0, scale: scale) }.max() ?? 0) + 12
            let titleH = 2 * BitmapFont.lineHeight * scale + 8
            let headerH = titleH + labelW
            let w = max(labelW + n * cell, BitmapFont.width(p.title, scale: scale), BitmapFont.width(axisLine(p), scale: scale))
            sizes.append((w, headerH + n * cell, labelW, headerH))
        }
        let width = 2 * margin + sizes.reduce(0) { $0 + $1.w } + gap * max(panels.count - 1, 0)
        let height = 2 * margin + (sizes.map(\.h).max() ?? 0)
        var canvas = Canvas(width: max(width, 1), height: max(height, 1))
        var x0 = margin
        for (p, size) in zip(panels, sizes) {
            draw(p, into: &canvas, x: x0, y: margin, labelW: size.labelW, headerH: size.headerH)
            x0 += size.w + gap
        }
        return try canvas.png()
    }

    static func axisLine(_ p: ConfusionPanel) -> String { "rows: \(p.rowAxis), columns: \(p.columnAxis)" }

    static func draw(_ p: ConfusionPanel, into canvas: inout Canvas, x: Int, y: Int, labelW: Int, headerH: Int) {
        let black: (UInt16, UInt16, UInt16) = (0, 0, 0), grey: (UInt16, UInt16, UInt16) = (200, 200, 200)
        let line = BitmapFont.lineHeight * scale
        canvas.text(p.title, x: x, y: y, scale: scale, color: black)
        canvas.text(axisLine(p), x: x, y: y + line, scale: scale, color: (90, 90, 90))
        let m = p.matrix, n = m.labels.count
        let gridX = x + labelW, gridY = y + headerH
        for (i, label) in m.labels.enumerated() {
            let w = BitmapFont.width(label, scale: scale)
            // row label, right-aligned against the grid; column label upright above its column
            canvas.text(label, x: gridX - 8 - w, y: gridY + i * cell + (cell - 7 * scale) / 2, scale: scale, color: black)
            canvas.text(label, x: gridX + i * cell + (cell - 7 * scale) / 2, y: gridY - 8 - w, scale: scale, color: black, vertical: true)
        }
        for r in 0..<n {
            let total = m.rowTotal(r)
            for c in 0..<n {
                let count = m.counts[r][c]
                let share = total > 0 ? Double(count) / Double(total) : 0
                let tint: (Double, Double, Double) = r == c ? (30, 90, 200) : (200, 40, 40)
                let shade = count == 0 ? 0 : 0.15 + 0.85 * share
                func mix(_ t: Double) -> UInt16 { UInt16((255 - (255 - t) * shade).rounded()) }
                canvas.fill(x: gridX + c * cell, y: gridY + r * cell, w: cell, h: cell, color: (mix(tint.0), mix(tint.1), mix(tint.2)))
                if count > 0 {
                    let text = String(count)
                    let s = BitmapFont.width(text, scale: scale) <= cell - 4 ? scale : 1
                    let tw = BitmapFont.width(text, scale: s)
                    canvas.text(text, x: gridX + c * cell + (cell - tw) / 2, y: gridY + r * cell + (cell - 7 * s) / 2, scale: s,
                                color: shade > 0.55 ? (255, 255, 255) : black)
                }
            }
        }
        for i in 0...n {  // grid lines
            canvas.fill(x: gridX, y: gridY + i * cell, w: n * cell + 1, h: 1, color: grey)
            canvas.fill(x: gridX + i * cell, y: gridY, w: 1, h: n * cell + 1, color: grey)
        }
    }
}

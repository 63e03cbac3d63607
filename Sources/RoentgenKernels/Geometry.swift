// Shapes of the spatial ops. Activations are NHWC with batch 1; weights are [OC][KH][KW][IC].

/// Geometry of one CONV2D: input, output and kernel sizes, strides and the top/left padding.
/// Bottom/right padding is implied by the output size (SPEC "OPS": OH = (H + pt + pb - KH) / sh + 1).
public struct Conv2DGeometry: Sendable, Equatable {
    public var inputHeight, inputWidth, inputChannels: Int
    public var outputHeight, outputWidth, outputChannels: Int
    public var kernelHeight, kernelWidth, strideHeight, strideWidth: Int
    public var padTop, padLeft: Int

    public init(inputHeight: Int, inputWidth: Int, inputChannels: Int,
                outputHeight: Int, outputWidth: Int, outputChannels: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int,
                padTop: Int, padLeft: Int) {
        self.inputHeight = inputHeight; self.inputWidth = inputWidth; self.inputChannels = inputChannels
        self.outputHeight = outputHeight; self.outputWidth = outputWidth; self.outputChannels = outputChannels
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.padTop = padTop; self.padLeft = padLeft
    }

    /// Elements of the input activation (H * W * IC).
    public var inputCount: Int { inputHeight * inputWidth * inputChannels }
    /// Elements of the output activation (OH * OW * OC).
    public var outputCount: Int { outputHeight * outputWidth * outputChannels }
    /// Reduction length per output element (KH * KW * IC).
    public var reductionCount: Int { kernelHeight * kernelWidth * inputChannels }
    /// Elements of the weight tensor (OC * KH * KW * IC).
    public var weightCount: Int { outputChannels * reductionCount }
}

/// Geometry of one MAXPOOL2D (channels are preserved).
public struct PoolGeometry: Sendable, Equatable {
    public var inputHeight, inputWidth, channels: Int
    public var outputHeight, outputWidth: Int
    public var kernelHeight, kernelWidth, strideHeight, strideWidth: Int
    public var padTop, padLeft: Int

    public init(inputHeight: Int, inputWidth: Int, channels: Int,
                outputHeight: Int, outputWidth: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int,
                padTop: Int, padLeft: Int) {
        self.inputHeight = inputHeight; self.inputWidth = inputWidth; self.channels = channels
        self.outputHeight = outputHeight; self.outputWidth = outputWidth
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.padTop = padTop; self.padLeft = padLeft
    }

    public var inputCount: Int { inputHeight * inputWidth * channels }
    public var outputCount: Int { outputHeight * outputWidth * channels }
}

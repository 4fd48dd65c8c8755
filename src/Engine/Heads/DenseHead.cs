using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;

namespace StreamBert.Engine.Heads;

/// <summary>
/// A task head over frozen encoder features: optional input standardisation, an optional hidden layer
/// (<see cref="HiddenDim"/> units with <see cref="Activation"/>), and <see cref="ClassCount"/> output logits.
/// </summary>
/// <remarks>
/// <para>
/// Weights use PyTorch's <c>[out, in]</c> row-major layout: <c>logits = W2·act(W1·x̂ + b1) + b2</c>, or
/// <c>logits = W2·x̂ + b2</c> without a hidden layer, where <c>x̂ = (x − mean) / std</c> when the head
/// standardises its input (mean and std are learned on the training features) and <c>x̂ = x</c> otherwise.
/// </para>
/// <para>
/// <see cref="Forward(ReadOnlySpan{float}, Span{float})"/> allocates nothing (scratch on the stack, or from
/// <see cref="ArrayPool{T}.Shared"/> for very wide heads) and is safe to call from many threads at once.
/// The batched overload uses a blocked matrix product and agrees with the single-row one to float rounding
/// (about 1e-6 relative), not bit for bit. A head is immutable once built; the trainer fills its weights
/// before handing it out.
/// </para>
/// <para>
/// File format (<see cref="Save"/>/<see cref="Load"/>), all integers int32 and all arrays float32, little-endian:
/// <list type="number">
/// <item>7 ASCII bytes <c>SBHEAD1</c>;</item>
/// <item>header: input dim D (≥ 1), hidden dim H (≥ 0; 0 = no hidden layer), class count C (≥ 1),
/// activation (<see cref="HeadActivation"/> value; <c>None</c> exactly when H = 0), flags (bit 0 = standardisation
/// arrays present; other bits 0);</item>
/// <item>if standardising: mean[D], std[D] (every std finite and &gt; 0);</item>
/// <item>if H &gt; 0: W1[H×D], b1[H];</item>
/// <item>W2[C×K], b2[C], with K = H if H &gt; 0, else D.</item>
/// </list>
/// Nothing follows; the reader stops after b2, so a head may be embedded in a longer stream. Integrity of
/// whole files is the bundle manifest's job (it pins a sha256 per file), so the format has no checksum.
/// </para>
/// </remarks>
public sealed class DenseHead
{
    /// <summary>The magic bytes that start every head file.</summary>
    public static ReadOnlySpan<byte> Magic => "SBHEAD1"u8;

    // Sanity limits for files: far above any head over a BERT encoder, low enough that a corrupt header
    // cannot make Load allocate gigabytes before it notices the file is short.
    private const int MaxInputDim = 1 << 20;
    private const int MaxHiddenDim = 1 << 16;
    private const int MaxClassCount = 1 << 16;
    private const long MaxParameters = 1L << 28;
    private const int StackScratchLimit = 4096;
    private const int BatchBlockRows = 32;

    private readonly float[] _mean;
    private readonly float[] _std;
    private readonly float[] _invStd;
    private readonly float[] _hiddenWeights;
    private readonly float[] _hiddenBias;
    private readonly float[] _outputWeights;
    private readonly float[] _outputBias;

    /// <summary>Creates a head with all weights zero (the trainer or <see cref="Load"/> fills them) and, when
    /// <paramref name="standardizeInput"/> is set, identity standardisation (mean 0, std 1).</summary>
    /// <param name="inputDim">Feature width D.</param>
    /// <param name="hiddenDim">Hidden units H; 0 for a linear head.</param>
    /// <param name="classCount">Output logits C.</param>
    /// <param name="activation">Hidden activation; must be <see cref="HeadActivation.None"/> exactly when H = 0.
    /// Defaults to <see cref="HeadActivation.Relu"/> when H &gt; 0 and None otherwise.</param>
    /// <param name="standardizeInput">Whether the head standardises its input with a learned mean and std.</param>
    public DenseHead(int inputDim, int hiddenDim, int classCount, HeadActivation? activation = null, bool standardizeInput = false)
    {
        var act = activation ?? (hiddenDim > 0 ? HeadActivation.Relu : HeadActivation.None);
        string? error = ValidateShape(inputDim, hiddenDim, classCount, act);
        if (error is not null)
        {
            throw new ArgumentException(error);
        }

        InputDim = inputDim;
        HiddenDim = hiddenDim;
        ClassCount = classCount;
        Activation = act;
        Standardizes = standardizeInput;
        _mean = standardizeInput ? new float[inputDim] : [];
        _std = standardizeInput ? Enumerable.Repeat(1f, inputDim).ToArray() : [];
        _invStd = standardizeInput ? Enumerable.Repeat(1f, inputDim).ToArray() : [];
        _hiddenWeights = new float[hiddenDim * inputDim];
        _hiddenBias = new float[hiddenDim];
        _outputWeights = new float[classCount * OutputInputDim];
        _outputBias = new float[classCount];
    }

    /// <summary>Feature width D.</summary>
    public int InputDim { get; }

    /// <summary>Hidden units H, 0 for a linear head.</summary>
    public int HiddenDim { get; }

    /// <summary>Number of output logits C.</summary>
    public int ClassCount { get; }

    /// <summary>Hidden-layer activation (<see cref="HeadActivation.None"/> for a linear head).</summary>
    public HeadActivation Activation { get; }

    /// <summary>Whether inputs are standardised with <see cref="FeatureMean"/> and <see cref="FeatureStd"/>.</summary>
    public bool Standardizes { get; }

    /// <summary>Number of trainable weights and biases (standardisation excluded).</summary>
    public long ParameterCount => _hiddenWeights.Length + _hiddenBias.Length + _outputWeights.Length + _outputBias.Length;

    /// <summary>Per-feature mean subtracted before the first layer (empty when not standardising).</summary>
    public ReadOnlySpan<float> FeatureMean => _mean;

    /// <summary>Per-feature standard deviation divided out before the first layer (empty when not standardising).</summary>
    public ReadOnlySpan<float> FeatureStd => _std;

    /// <summary>W1, H×D row-major (empty for a linear head).</summary>
    public ReadOnlySpan<float> HiddenWeights => _hiddenWeights;

    /// <summary>b1, length H.</summary>
    public ReadOnlySpan<float> HiddenBias => _hiddenBias;

    /// <summary>W2, C×K row-major with K = H, or D for a linear head.</summary>
    public ReadOnlySpan<float> OutputWeights => _outputWeights;

    /// <summary>b2, length C.</summary>
    public ReadOnlySpan<float> OutputBias => _outputBias;

    /// <summary>Width of the output layer's input: H, or D for a linear head.</summary>
    internal int OutputInputDim => HiddenDim > 0 ? HiddenDim : InputDim;

    // Mutable views for the trainer (StreamBert.Training) and tests; a head is not modified once published.
    internal float[] HiddenWeightsArray => _hiddenWeights;
    internal float[] HiddenBiasArray => _hiddenBias;
    internal float[] OutputWeightsArray => _outputWeights;
    internal float[] OutputBiasArray => _outputBias;
    internal ReadOnlySpan<float> InverseStd => _invStd;

    /// <summary>Sets the standardisation statistics (the trainer computes them from the training features).</summary>
    internal void SetStandardization(ReadOnlySpan<float> mean, ReadOnlySpan<float> std)
    {
        if (!Standardizes || mean.Length != InputDim || std.Length != InputDim)
        {
            throw new ArgumentException("Standardisation arrays must have length InputDim on a standardising head.");
        }

        for (int i = 0; i < std.Length; i++)
        {
            if (!(std[i] > 0f) || !float.IsFinite(std[i]) || !float.IsFinite(mean[i]))
            {
                throw new ArgumentException($"Standard deviation {i} is {std[i]} and mean {mean[i]}; both must be finite and std > 0.");
            }
        }

        mean.CopyTo(_mean);
        std.CopyTo(_std);
        TensorPrimitives.Reciprocal(std, _invStd);
    }

    /// <summary>Copies every weight and statistic of <paramref name="other"/>, which must have the same shape.</summary>
    internal void CopyFrom(DenseHead other)
    {
        if (other.InputDim != InputDim || other.HiddenDim != HiddenDim || other.ClassCount != ClassCount
            || other.Activation != Activation || other.Standardizes != Standardizes)
        {
            throw new ArgumentException("Heads differ in shape.", nameof(other));
        }

        other._mean.CopyTo(_mean);
        other._std.CopyTo(_std);
        other._invStd.CopyTo(_invStd);
        other._hiddenWeights.CopyTo(_hiddenWeights);
        other._hiddenBias.CopyTo(_hiddenBias);
        other._outputWeights.CopyTo(_outputWeights);
        other._outputBias.CopyTo(_outputBias);
    }

    /// <summary>Computes the logits of one feature vector.</summary>
    /// <param name="features">D features.</param>
    /// <param name="logits">Receives C logits.</param>
    public void Forward(ReadOnlySpan<float> features, Span<float> logits)
    {
        if (features.Length != InputDim)
        {
            throw new ArgumentException($"Expected {InputDim} features, got {features.Length}.", nameof(features));
        }

        if (logits.Length != ClassCount)
        {
            throw new ArgumentException($"Expected room for {ClassCount} logits, got {logits.Length}.", nameof(logits));
        }

        int scratchLength = (Standardizes ? InputDim : 0) + 2 * HiddenDim;
        float[]? rented = null;
        Span<float> scratch = scratchLength <= StackScratchLimit
            ? stackalloc float[scratchLength]
            : (rented = ArrayPool<float>.Shared.Rent(scratchLength));
        try
        {
            scoped ReadOnlySpan<float> x = features;
            if (Standardizes)
            {
                var standardized = scratch[..InputDim];
                Standardize(features, standardized);
                x = standardized;
                scratch = scratch[InputDim..];
            }

            if (HiddenDim > 0)
            {
                var hidden = scratch[..HiddenDim];
                for (int h = 0; h < HiddenDim; h++)
                {
                    hidden[h] = TensorPrimitives.Dot(x, _hiddenWeights.AsSpan(h * InputDim, InputDim)) + _hiddenBias[h];
                }

                Activations.Apply(Activation, hidden, scratch.Slice(HiddenDim, HiddenDim));
                x = hidden;
            }

            int k = OutputInputDim;
            for (int c = 0; c < ClassCount; c++)
            {
                logits[c] = TensorPrimitives.Dot(x, _outputWeights.AsSpan(c * k, k)) + _outputBias[c];
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Computes the logits of <paramref name="rows"/> feature vectors stored row-major.</summary>
    /// <param name="featuresRowMajor">rows×D features.</param>
    /// <param name="rows">Number of feature vectors.</param>
    /// <param name="logitsRowMajor">Receives rows×C logits.</param>
    public void Forward(ReadOnlySpan<float> featuresRowMajor, int rows, Span<float> logitsRowMajor)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        if (featuresRowMajor.Length != (long)rows * InputDim)
        {
            throw new ArgumentException($"Expected {rows}×{InputDim} features, got {featuresRowMajor.Length}.", nameof(featuresRowMajor));
        }

        if (logitsRowMajor.Length != (long)rows * ClassCount)
        {
            throw new ArgumentException($"Expected room for {rows}×{ClassCount} logits, got {logitsRowMajor.Length}.", nameof(logitsRowMajor));
        }

        if (rows == 0)
        {
            return;
        }

        // Blocks of rows bound the scratch (pooled, so no allocation in steady state) while still
        // letting the kernel reuse each weight tile across several rows.
        int block = Math.Min(rows, BatchBlockRows);
        int scratchLength = block * ((Standardizes ? InputDim : 0) + 2 * HiddenDim);
        float[]? rented = scratchLength > 0 ? ArrayPool<float>.Shared.Rent(scratchLength) : null;
        try
        {
            Span<float> scratch = rented;
            for (int start = 0; start < rows; start += block)
            {
                int n = Math.Min(block, rows - start);
                ForwardBlock(featuresRowMajor.Slice(start * InputDim, n * InputDim), n,
                    logitsRowMajor.Slice(start * ClassCount, n * ClassCount), scratch);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Index of the largest logit for one feature vector.</summary>
    public int Predict(ReadOnlySpan<float> features)
    {
        Span<float> logits = ClassCount <= StackScratchLimit ? stackalloc float[ClassCount] : new float[ClassCount];
        Forward(features, logits);
        return TensorPrimitives.IndexOfMax(logits);
    }

    /// <summary>Replaces logits by probabilities in place (max-subtracted, so large logits do not overflow).</summary>
    public static void Softmax(Span<float> logits)
    {
        if (logits.IsEmpty)
        {
            return;
        }

        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, logits);
        TensorPrimitives.Exp(logits, logits);
        float sum = TensorPrimitives.Sum(logits);
        TensorPrimitives.Divide(logits, sum, logits);
    }

    /// <summary>Writes the head in the format described on <see cref="DenseHead"/>.</summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(Magic);
        Span<byte> header = stackalloc byte[20];
        BinaryPrimitives.WriteInt32LittleEndian(header, InputDim);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], HiddenDim);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], ClassCount);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], (int)Activation);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], Standardizes ? 1 : 0);
        stream.Write(header);
        if (Standardizes)
        {
            WriteFloats(stream, _mean);
            WriteFloats(stream, _std);
        }

        if (HiddenDim > 0)
        {
            WriteFloats(stream, _hiddenWeights);
            WriteFloats(stream, _hiddenBias);
        }

        WriteFloats(stream, _outputWeights);
        WriteFloats(stream, _outputBias);
    }

    /// <summary>Reads a head written by <see cref="Save"/>, reading exactly its bytes from the stream.</summary>
    /// <exception cref="InvalidDataException">The stream is not a head file, has an invalid header or values, or ends early.</exception>
    public static DenseHead Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> magic = stackalloc byte[Magic.Length];
        int got = stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        if (got < magic.Length || !magic.SequenceEqual(Magic))
        {
            throw new InvalidDataException(
                $"Not a StreamBert head file: expected magic 'SBHEAD1', found '{Printable(magic[..got])}'.");
        }

        Span<byte> header = stackalloc byte[20];
        got = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        if (got < header.Length)
        {
            throw new InvalidDataException($"Truncated head file: header needs {header.Length} bytes, found {got}.");
        }

        int inputDim = BinaryPrimitives.ReadInt32LittleEndian(header);
        int hiddenDim = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        int classCount = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        int activation = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        int flags = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
        if ((flags & ~1) != 0)
        {
            throw new InvalidDataException($"Invalid head file: unknown flags 0x{flags:X}.");
        }

        string? error = ValidateShape(inputDim, hiddenDim, classCount, (HeadActivation)activation);
        if (error is not null)
        {
            throw new InvalidDataException("Invalid head file: " + error);
        }

        bool standardizes = (flags & 1) != 0;
        var head = new DenseHead(inputDim, hiddenDim, classCount, (HeadActivation)activation, standardizes);
        long expectedFloats = (standardizes ? 2L * inputDim : 0) + head.ParameterCount;
        if (stream.CanSeek && stream.Length - stream.Position < expectedFloats * sizeof(float))
        {
            throw new InvalidDataException(
                $"Truncated head file: a {inputDim}→{hiddenDim}→{classCount} head needs {expectedFloats * sizeof(float)} bytes " +
                $"of weights after the header, only {stream.Length - stream.Position} remain.");
        }

        if (standardizes)
        {
            var mean = new float[inputDim];
            var std = new float[inputDim];
            ReadFloats(stream, mean, "mean");
            ReadFloats(stream, std, "std");
            for (int i = 0; i < inputDim; i++)
            {
                if (!(std[i] > 0f) || !float.IsFinite(std[i]))
                {
                    throw new InvalidDataException($"Invalid head file: std[{i}] = {std[i]}; every std must be finite and > 0.");
                }
            }

            head.SetStandardization(mean, std);
        }

        if (hiddenDim > 0)
        {
            ReadFloats(stream, head._hiddenWeights, "W1");
            ReadFloats(stream, head._hiddenBias, "b1");
        }

        ReadFloats(stream, head._outputWeights, "W2");
        ReadFloats(stream, head._outputBias, "b2");
        return head;
    }

    private void ForwardBlock(ReadOnlySpan<float> features, int rows, Span<float> logits, Span<float> scratch)
    {
        ReadOnlySpan<float> x = features;
        if (Standardizes)
        {
            var standardized = scratch[..(rows * InputDim)];
            for (int r = 0; r < rows; r++)
            {
                Standardize(features.Slice(r * InputDim, InputDim), standardized.Slice(r * InputDim, InputDim));
            }

            x = standardized;
            scratch = scratch[(rows * InputDim)..];
        }

        if (HiddenDim > 0)
        {
            var hidden = scratch[..(rows * HiddenDim)];
            DenseKernels.MultiplyTransposedB(x, rows, InputDim, _hiddenWeights, HiddenDim, _hiddenBias, hidden);
            Activations.Apply(Activation, hidden, scratch.Slice(rows * HiddenDim, rows * HiddenDim));
            x = hidden;
        }

        DenseKernels.MultiplyTransposedB(x, rows, OutputInputDim, _outputWeights, ClassCount, _outputBias, logits);
    }

    /// <summary>x̂ = (x − mean) · (1 / std).</summary>
    internal void Standardize(ReadOnlySpan<float> features, Span<float> destination)
    {
        TensorPrimitives.Subtract(features, _mean, destination);
        TensorPrimitives.Multiply(destination, _invStd, destination);
    }

    private static string? ValidateShape(int inputDim, int hiddenDim, int classCount, HeadActivation activation)
    {
        if (inputDim < 1 || inputDim > MaxInputDim)
        {
            return $"input dim {inputDim} is outside 1..{MaxInputDim}.";
        }

        if (hiddenDim < 0 || hiddenDim > MaxHiddenDim)
        {
            return $"hidden dim {hiddenDim} is outside 0..{MaxHiddenDim}.";
        }

        if (classCount < 1 || classCount > MaxClassCount)
        {
            return $"class count {classCount} is outside 1..{MaxClassCount}.";
        }

        if ((long)hiddenDim * inputDim + (long)classCount * (hiddenDim > 0 ? hiddenDim : inputDim) > MaxParameters)
        {
            return $"a {inputDim}→{hiddenDim}→{classCount} head has more than {MaxParameters} weights.";
        }

        if (!Enum.IsDefined(activation))
        {
            return $"unknown activation {(int)activation}.";
        }

        if ((hiddenDim == 0) != (activation == HeadActivation.None))
        {
            return $"activation {activation} does not fit hidden dim {hiddenDim} (None exactly when there is no hidden layer).";
        }

        return null;
    }

    private static void WriteFloats(Stream stream, float[] values)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(values.AsSpan()));
            return;
        }

        Span<byte> buffer = stackalloc byte[sizeof(float)];
        foreach (float v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer, v);
            stream.Write(buffer);
        }
    }

    private static void ReadFloats(Stream stream, float[] destination, string what)
    {
        var bytes = MemoryMarshal.AsBytes(destination.AsSpan());
        int got = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        if (got < bytes.Length)
        {
            throw new InvalidDataException(
                $"Truncated head file: {what} needs {bytes.Length} bytes ({destination.Length} floats), found {got}.");
        }

        if (!BitConverter.IsLittleEndian)
        {
            var ints = MemoryMarshal.Cast<float, int>(destination.AsSpan());
            BinaryPrimitives.ReverseEndianness(ints, ints);
        }

        int bad = TensorPrimitives.IndexOfMaxMagnitude(destination);
        if (bad >= 0 && !float.IsFinite(destination[bad]))
        {
            throw new InvalidDataException($"Invalid head file: {what}[{bad}] is {destination[bad]}.");
        }
    }

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
        {
            sb.Append(b is >= 0x20 and < 0x7F ? (char)b : '?');
        }

        return sb.ToString();
    }
}

using System.Buffers.Binary;
using StreamBert.Engine.Heads;

namespace StreamBert.Engine.Tests.Heads;

public class DenseHeadTests
{
    /// <summary>A head with seeded random weights (and standardisation when asked).</summary>
    private static DenseHead RandomHead(int inputDim, int hiddenDim, int classCount, HeadActivation? activation = null, bool standardize = true, int seed = 1)
    {
        var random = new Random(seed);
        var head = new DenseHead(inputDim, hiddenDim, classCount, activation, standardize);
        foreach (var array in new[] { head.HiddenWeightsArray, head.HiddenBiasArray, head.OutputWeightsArray, head.OutputBiasArray })
        {
            for (int i = 0; i < array.Length; i++)
            {
                array[i] = (float)(random.NextDouble() - 0.5);
            }
        }

        if (standardize)
        {
            head.SetStandardization(
                Enumerable.Range(0, inputDim).Select(_ => (float)random.NextDouble()).ToArray(),
                Enumerable.Range(0, inputDim).Select(_ => (float)(0.5 + random.NextDouble())).ToArray());
        }

        return head;
    }

    private static float[] RandomVector(int length, Random random) =>
        Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();

    /// <summary>The documented formula, in double precision, straight from the public weights.</summary>
    private static double[] Reference(DenseHead head, float[] x)
    {
        double[] input = x.Select((v, i) => head.Standardizes ? (v - head.FeatureMean[i]) / (double)head.FeatureStd[i] : v).ToArray();
        if (head.HiddenDim > 0)
        {
            var hidden = new double[head.HiddenDim];
            for (int h = 0; h < hidden.Length; h++)
            {
                double z = head.HiddenBias[h];
                for (int k = 0; k < head.InputDim; k++)
                {
                    z += head.HiddenWeights[h * head.InputDim + k] * input[k];
                }

                hidden[h] = head.Activation == HeadActivation.Relu
                    ? Math.Max(0, z)
                    : 0.5 * z * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z)));
            }

            input = hidden;
        }

        var logits = new double[head.ClassCount];
        for (int c = 0; c < logits.Length; c++)
        {
            logits[c] = head.OutputBias[c];
            for (int k = 0; k < input.Length; k++)
            {
                logits[c] += head.OutputWeights[c * input.Length + k] * input[k];
            }
        }

        return logits;
    }

    [Theory]
    [InlineData(5, 0, 3, null)]
    [InlineData(37, 11, 4, HeadActivation.Relu)]
    [InlineData(70, 33, 9, HeadActivation.Gelu)]
    public void Forward_RandomHead_MatchesTheDocumentedFormula(int inputDim, int hiddenDim, int classCount, HeadActivation? activation)
    {
        var head = RandomHead(inputDim, hiddenDim, classCount, activation);
        var random = new Random(2);
        var logits = new float[classCount];

        for (int trial = 0; trial < 5; trial++)
        {
            var x = RandomVector(inputDim, random);
            head.Forward(x, logits);
            var expected = Reference(head, x);
            for (int c = 0; c < classCount; c++)
            {
                Assert.Equal(expected[c], logits[c], 1e-4);
            }
        }
    }

    [Fact]
    public void Forward_LinearHeadWithoutStandardization_IsWxPlusB()
    {
        var head = new DenseHead(inputDim: 2, hiddenDim: 0, classCount: 2);
        float[] weights = [1f, 2f, -3f, 0.5f];
        weights.CopyTo(head.OutputWeightsArray, 0);
        head.OutputBiasArray[1] = 10f;
        var logits = new float[2];

        head.Forward([4f, -1f], logits);

        Assert.Equal([2f, -12.5f + 10f], logits);
    }

    [Theory]
    [InlineData(1, 0, 2)]
    [InlineData(19, 7, 3)]
    [InlineData(70, 33, 9)]
    [InlineData(1536, 64, 9)]
    public void ForwardBatched_ManyRows_AgreesWithSingleRows(int inputDim, int hiddenDim, int classCount)
    {
        var head = RandomHead(inputDim, hiddenDim, classCount, hiddenDim > 0 ? HeadActivation.Gelu : null);
        var random = new Random(3);
        const int rows = 45; // more than one block of 32, not a multiple of the 4-row tiles
        var features = RandomVector(rows * inputDim, random);
        var batched = new float[rows * classCount];
        var single = new float[classCount];

        head.Forward(features, rows, batched);

        for (int r = 0; r < rows; r++)
        {
            head.Forward(features.AsSpan(r * inputDim, inputDim), single);
            for (int c = 0; c < classCount; c++)
            {
                Assert.Equal(single[c], batched[r * classCount + c], 1e-4 * (1 + Math.Abs(single[c])));
            }
        }
    }

    [Fact]
    public void Forward_WrongLengths_Throw()
    {
        var head = new DenseHead(4, 0, 2);

        Assert.Throws<ArgumentException>(() => head.Forward(new float[3], new float[2]));
        Assert.Throws<ArgumentException>(() => head.Forward(new float[4], new float[3]));
        Assert.Throws<ArgumentException>(() => head.Forward(new float[8], 3, new float[6]));
    }

    [Fact]
    public void Forward_SteadyState_AllocatesNothing()
    {
        var head = RandomHead(1536, 256, 9);
        var features = RandomVector(1536, new Random(4));
        var batch = RandomVector(8 * 1536, new Random(5));
        var logits = new float[9];
        var batchLogits = new float[8 * 9];
        head.Forward(features, logits);
        head.Forward(batch, 8, batchLogits);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            head.Forward(features, logits);
            head.Forward(batch, 8, batchLogits);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Softmax_LargeLogits_IsStableAndSumsToOne()
    {
        float[] logits = [1000f, 1001f, 999f];

        DenseHead.Softmax(logits);

        double z = 1 + Math.Exp(1) + Math.Exp(-1);
        Assert.Equal(1 / z, logits[0], 1e-6);
        Assert.Equal(Math.Exp(1) / z, logits[1], 1e-6);
        Assert.Equal(1.0, logits.Sum(), 1e-6);
    }

    [Fact]
    public void Predict_ReturnsTheArgmax()
    {
        var head = new DenseHead(1, 0, 3);
        head.OutputBiasArray[2] = 1f;

        Assert.Equal(2, head.Predict([0f]));
    }

    [Theory]
    [InlineData(0, 3, 2, null, false)]
    [InlineData(9, 0, 4, null, true)]
    [InlineData(9, 5, 4, HeadActivation.Gelu, true)]
    public void SaveLoad_RoundTrip_GivesIdenticalWeightsAndLogits(int seed, int hiddenDim, int classCount, HeadActivation? activation, bool standardize)
    {
        var head = RandomHead(13, hiddenDim, classCount, activation, standardize, seed);
        using var stream = new MemoryStream();
        head.Save(stream);
        stream.Position = 0;

        var loaded = DenseHead.Load(stream);

        Assert.Equal(stream.Length, stream.Position);
        Assert.Equal((head.InputDim, head.HiddenDim, head.ClassCount, head.Activation, head.Standardizes),
            (loaded.InputDim, loaded.HiddenDim, loaded.ClassCount, loaded.Activation, loaded.Standardizes));
        Assert.Equal(head.HiddenWeights.ToArray(), loaded.HiddenWeights.ToArray());
        Assert.Equal(head.OutputWeights.ToArray(), loaded.OutputWeights.ToArray());
        Assert.Equal(head.FeatureStd.ToArray(), loaded.FeatureStd.ToArray());
        var random = new Random(6);
        var expected = new float[classCount];
        var actual = new float[classCount];
        for (int i = 0; i < 10; i++)
        {
            var x = RandomVector(13, random);
            head.Forward(x, expected);
            loaded.Forward(x, actual);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void Save_WritesTheDocumentedLayout()
    {
        var head = RandomHead(3, 2, 2, HeadActivation.Relu, standardize: true);
        using var stream = new MemoryStream();

        head.Save(stream);

        byte[] bytes = stream.ToArray();
        Assert.Equal("SBHEAD1"u8.ToArray(), bytes[..7]);
        int Int(int offset) => BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset));
        Assert.Equal((3, 2, 2, 1, 1), (Int(7), Int(11), Int(15), Int(19), Int(23)));
        // mean 3 + std 3 + W1 6 + b1 2 + W2 4 + b2 2 floats.
        Assert.Equal(7 + 20 + (4 * 20), bytes.Length);
        Assert.Equal(head.FeatureMean[0], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(27)));
        Assert.Equal(head.OutputBias[1], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(bytes.Length - 4)));
    }

    [Fact]
    public void Load_TruncatedFile_ThrowsInvalidDataExceptionAtEveryCut()
    {
        var head = RandomHead(6, 4, 3, HeadActivation.Relu);
        using var full = new MemoryStream();
        head.Save(full);
        byte[] bytes = full.ToArray();

        for (int length = 0; length < bytes.Length; length++)
        {
            var seekable = new MemoryStream(bytes, 0, length);
            var seekableError = Assert.Throws<InvalidDataException>(() => DenseHead.Load(seekable));
            var streamingError = Assert.Throws<InvalidDataException>(() => DenseHead.Load(new NonSeekableStream(bytes[..length])));
            Assert.Matches("Truncated|Not a StreamBert head", seekableError.Message);
            Assert.Matches("Truncated|Not a StreamBert head", streamingError.Message);
        }
    }

    [Fact]
    public void Load_WrongMagic_ThrowsWithWhatWasFound()
    {
        var ex = Assert.Throws<InvalidDataException>(() => DenseHead.Load(new MemoryStream("PK\u0003\u0004 a zip file"u8.ToArray())));

        Assert.Contains("SBHEAD1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("PK??", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 0, 2, 0, 0, "input dim")]
    [InlineData(4, -1, 2, 0, 0, "hidden dim")]
    [InlineData(4, 0, 0, 0, 0, "class count")]
    [InlineData(4, 3, 2, 0, 0, "activation None")]
    [InlineData(4, 0, 2, 1, 0, "activation Relu")]
    [InlineData(4, 3, 2, 7, 0, "unknown activation")]
    [InlineData(4, 0, 2, 0, 2, "flags")]
    [InlineData(1 << 20, 1 << 16, 2, 1, 0, "weights")]
    public void Load_InvalidHeader_ThrowsInvalidDataException(int inputDim, int hiddenDim, int classCount, int activation, int flags, string expected)
    {
        var bytes = new byte[27];
        "SBHEAD1"u8.CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(7), inputDim);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(11), hiddenDim);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(15), classCount);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(19), activation);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(23), flags);

        var ex = Assert.Throws<InvalidDataException>(() => DenseHead.Load(new MemoryStream(bytes)));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_NonFiniteWeightOrZeroStd_ThrowsInvalidDataException()
    {
        var head = RandomHead(3, 0, 2, standardize: true);
        using var stream = new MemoryStream();
        head.Save(stream);
        byte[] nanWeight = stream.ToArray();
        BinaryPrimitives.WriteSingleLittleEndian(nanWeight.AsSpan(nanWeight.Length - 12), float.NaN);
        byte[] zeroStd = stream.ToArray();
        BinaryPrimitives.WriteSingleLittleEndian(zeroStd.AsSpan(27 + 12), 0f);

        Assert.Contains("W2", Assert.Throws<InvalidDataException>(() => DenseHead.Load(new MemoryStream(nanWeight))).Message, StringComparison.Ordinal);
        Assert.Contains("std[0]", Assert.Throws<InvalidDataException>(() => DenseHead.Load(new MemoryStream(zeroStd))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_ActivationNotMatchingHiddenLayer_Throws()
    {
        Assert.Throws<ArgumentException>(() => new DenseHead(4, 0, 2, HeadActivation.Relu));
        Assert.Throws<ArgumentException>(() => new DenseHead(4, 8, 2, HeadActivation.None));
        Assert.Equal(HeadActivation.Relu, new DenseHead(4, 8, 2).Activation);
    }

    /// <summary>A read-only stream that cannot seek, so Load cannot check the length up front.</summary>
    private sealed class NonSeekableStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 5));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

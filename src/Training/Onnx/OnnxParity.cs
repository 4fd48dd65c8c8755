using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace StreamBert.Training.Onnx;

/// <summary>Largest absolute difference per output between ONNX Runtime and TorchSharp, over real (unpadded) tokens.</summary>
public sealed record ParityReport(IReadOnlyDictionary<string, double> MaxAbsDiff, int Sequences, int Tokens)
{
    public double Max => MaxAbsDiff.Values.Max();

    public override string ToString() =>
        string.Join(", ", MaxAbsDiff.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:E2}")))
        + $" ({Sequences} sequences, {Tokens} tokens)";
}

/// <summary>The written graph disagrees with the TorchSharp model it was written from.</summary>
public sealed class OnnxParityException(ParityReport report, double tolerance)
    : InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"ONNX graph differs from the TorchSharp model by more than {tolerance:E1}: {report}"))
{
    public ParityReport Report { get; } = report;
}

/// <summary>
/// Runs a written graph in ONNX Runtime and the model it came from in TorchSharp on the same real texts and
/// compares every output. This is what makes an ONNX writer trustworthy: a wrong transpose, a missing
/// residual or a mis-named weight shows up as a large difference, not as a quietly worse model.
/// </summary>
public static class OnnxParity
{
    /// <summary>Accepted max abs difference; the fp32 graphs agree to a few 1e-6 in practice.</summary>
    public const double DefaultTolerance = 1e-4;

    /// <summary>Compares <c>last_hidden_state</c> and every head's logits on <paramref name="texts"/> (truncated to <paramref name="maxLength"/> tokens).</summary>
    public static ParityReport Check(
        ModelProto model, BertEncoder encoder, IReadOnlyList<ExportedHead> heads, WordPieceTokenizer tokenizer,
        IReadOnlyList<string> texts, int maxLength = 64)
    {
        ArgumentOutOfRangeException.ThrowIfZero(texts.Count);
        var batch = ParityBatch.Encode(tokenizer, texts, maxLength, encoder.Config.CaseTypes);
        var outputs = new List<string> { BertOnnxWriter.LastHiddenState };
        outputs.AddRange(heads.Select(h => h.OutputName));
        var torchOutputs = RunTorch(encoder, heads, batch);
        var ortOutputs = RunOrt(model, batch, outputs);
        var diffs = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var name in outputs)
        {
            var expected = torchOutputs[name];
            var actual = ortOutputs[name];
            if (expected.Length != actual.Length)
            {
                throw new InvalidOperationException($"Output {name} has {actual.Length} values in ONNX Runtime, {expected.Length} in TorchSharp.");
            }

            // Per-token outputs are compared on real tokens only; padding rows are never read.
            var perToken = name == BertOnnxWriter.LastHiddenState || heads.First(h => h.OutputName == name).Head is TokenClassificationHead;
            diffs[name] = perToken
                ? MaxDiffOnTokens(expected, actual, batch, expected.Length / (batch.Rows * batch.Length))
                : MaxDiff(expected, actual);
        }

        return new ParityReport(diffs, batch.Rows, batch.RealTokens);
    }

    /// <summary>Throws <see cref="OnnxParityException"/> when any output differs by more than <paramref name="tolerance"/> (or is NaN).</summary>
    public static void Require(ParityReport report, double tolerance = DefaultTolerance)
    {
        if (!(report.Max <= tolerance))
        {
            throw new OnnxParityException(report, tolerance);
        }
    }

    internal static Dictionary<string, float[]> RunOrt(ModelProto model, ParityBatch batch, IReadOnlyList<string> outputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2, InterOpNumThreads = 1 };
        using var session = new InferenceSession(model.ToByteArray(), options);
        long[] shape = [batch.Rows, batch.Length];
        var names = new List<string> { "input_ids", "attention_mask", "token_type_ids" };
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(batch.Ids, shape),
            OrtValue.CreateTensorValueFromMemory(batch.Mask, shape),
            OrtValue.CreateTensorValueFromMemory(batch.Types, shape),
        };
        try
        {
            if (session.InputNames.Contains(BertOnnxWriter.WordShapesInput))
            {
                names.Add(BertOnnxWriter.WordShapesInput);
                values.Add(OrtValue.CreateTensorValueFromMemory(batch.Shapes, [batch.Rows, batch.Length, WordShape.Size]));
            }

            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, names, values, outputs);
            var map = new Dictionary<string, float[]>(StringComparer.Ordinal);
            for (var i = 0; i < outputs.Count; i++)
            {
                map[outputs[i]] = results[i].GetTensorDataAsSpan<float>().ToArray();
            }

            return map;
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    private static Dictionary<string, float[]> RunTorch(BertEncoder encoder, IReadOnlyList<ExportedHead> heads, ParityBatch batch)
    {
        var modules = new List<nn.Module> { encoder };
        modules.AddRange(heads.Select(h => (nn.Module)h.Head));
        var wasTraining = modules.Select(m => m.training).ToList();
        foreach (var module in modules)
        {
            module.eval();
        }

        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var device = encoder.parameters().First().device;
            var ids = tensor(batch.Ids, [batch.Rows, batch.Length], device: device);
            var mask = tensor(batch.Mask, [batch.Rows, batch.Length], device: device);
            var types = tensor(batch.Types, [batch.Rows, batch.Length], device: device);
            var shapes = tensor(batch.Shapes, [batch.Rows, batch.Length, WordShape.Size], device: device);
            var states = encoder.forward(ids, mask, types);
            var map = new Dictionary<string, float[]>(StringComparer.Ordinal)
            {
                [BertOnnxWriter.LastHiddenState] = ToArray(states[^1]),
            };
            foreach (var head in heads)
            {
                map[head.OutputName] = head.Head switch
                {
                    SequenceClassificationHead sequence => ToArray(sequence.forward(states, mask)),
                    TokenClassificationHead token => ToArray(token.forward(states, token.WordShape ? shapes : null)),
                    _ => throw new ArgumentException($"Unknown head type {head.Head.GetType().Name}."),
                };
            }

            return map;
        }
        finally
        {
            for (var i = 0; i < modules.Count; i++)
            {
                modules[i].train(wasTraining[i]);
            }
        }
    }

    private static float[] ToArray(Tensor t) => t.detach().cpu().contiguous().data<float>().ToArray();

    private static double MaxDiff(float[] expected, float[] actual)
    {
        double max = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var d = Math.Abs((double)expected[i] - actual[i]);
            if (double.IsNaN(d))
            {
                return double.NaN;
            }

            max = Math.Max(max, d);
        }

        return max;
    }

    private static double MaxDiffOnTokens(float[] expected, float[] actual, ParityBatch batch, int width)
    {
        double max = 0;
        for (var row = 0; row < batch.Rows; row++)
        {
            var start = row * batch.Length * width;
            var count = batch.Lengths[row] * width;
            var d = MaxDiff(expected.AsSpan(start, count).ToArray(), actual.AsSpan(start, count).ToArray());
            if (double.IsNaN(d))
            {
                return d;
            }

            max = Math.Max(max, d);
        }

        return max;
    }
}

/// <summary>Texts tokenised into one padded batch ([CLS] … [SEP], truncated), with each position's word shape.</summary>
internal sealed record ParityBatch(int Rows, int Length, long[] Ids, long[] Mask, long[] Types, float[] Shapes, int[] Lengths)
{
    public int RealTokens => Lengths.Sum();

    /// <param name="tokenizer">The bundle's tokenizer.</param>
    /// <param name="texts">Texts, one row each.</param>
    /// <param name="maxLength">Pieces per row at most, [CLS] and [SEP] included.</param>
    /// <param name="caseTypes">Fill token types with case types (<see cref="WordShape.CaseType"/>) instead of zeros.</param>
    public static ParityBatch Encode(WordPieceTokenizer tokenizer, IReadOnlyList<string> texts, int maxLength, bool caseTypes = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 3);
        var rows = new List<(int[] Ids, float[] Shapes)>();
        var tokens = new List<Token>();
        foreach (var text in texts)
        {
            tokens.Clear();
            tokenizer.Tokenize(text, tokens);
            var count = Math.Min(tokens.Count, maxLength - 2);
            var ids = new int[count + 2];
            ids[0] = tokenizer.ClsId;
            for (var i = 0; i < count; i++)
            {
                ids[i + 1] = tokens[i].Id;
            }

            ids[^1] = tokenizer.SepId;
            rows.Add((ids, WordShape.ForSequence(text, tokens, 0, count)));
        }

        var length = rows.Max(r => r.Ids.Length);
        var batch = new ParityBatch(rows.Count, length, new long[rows.Count * length], new long[rows.Count * length],
            new long[rows.Count * length], new float[rows.Count * length * WordShape.Size], new int[rows.Count]);
        for (var r = 0; r < rows.Count; r++)
        {
            var (ids, shapes) = rows[r];
            batch.Lengths[r] = ids.Length;
            for (var i = 0; i < ids.Length; i++)
            {
                batch.Ids[(r * length) + i] = ids[i];
                batch.Mask[(r * length) + i] = 1;
            }

            shapes.CopyTo(batch.Shapes, r * length * WordShape.Size);
            if (caseTypes)
            {
                WordShape.WriteCaseTypes(shapes, batch.Types.AsSpan(r * length, ids.Length));
            }
        }

        return batch;
    }
}

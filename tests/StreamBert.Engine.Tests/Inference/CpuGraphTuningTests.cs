using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Engine.Tests.Inference;

/// <summary>
/// <see cref="CpuGraphTuning"/> on the real pretrained encoder, fp32 and int8: it must change which kernels ONNX Runtime
/// runs (no <c>SkipLayerNormalization</c>, no <c>BiasGelu</c> in the graph ORT executes) and nothing else — fp32
/// hidden states stay those of the untuned session, int8 ones as close to fp32 as the untuned int8 session's.
/// </summary>
public sealed class CpuGraphTuningTests : IDisposable
{
    private static readonly string[] Texts =
    [
        "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005.",
        "Ok lar... Joking wif u oni...",
        "Angela Merkel met Emmanuel Macron in Paris on Monday to discuss the budget of the European Union.",
        "WINNER!! As a valued network customer you have been selected to receivea £900 prize reward!",
        "Yes.",
    ];

    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("streambert-tuning-test-");

    public void Dispose() => _folder.Delete(recursive: true);

    [Theory]
    [InlineData("fp32")]
    [InlineData("int8")]
    public void Session_OnCpu_OrtRunsLayerNormsUnfusedAndTheHiddenStatesStayTheSame(string precision)
    {
        var pretrained = MiniLmResources.Ensure();
        var model = EncoderGraph.Parse(pretrained.ModelPath);
        if (precision == "int8")
        {
            model = Int8Quantizer.Quantize(model).Model;
        }

        var bytes = EncoderGraph.ToBytes(model);
        int[] layers = [3, 6];
        var tunedPath = Path.Combine(_folder.FullName, "tuned.onnx");
        var plainPath = Path.Combine(_folder.FullName, "plain.onnx");
        var cpu = new SessionSettings { Device = DevicePreference.Cpu };
        using var tuned = new EncoderSession(bytes, layers, cpu with { OptimizedModelPath = tunedPath });
        using var plain = new EncoderSession(bytes, layers, cpu with { CpuGraphTuning = false, OptimizedModelPath = plainPath });

        // Six layers: the embeddings' sum and two residuals per layer; int8 also folds the bias of all 36 quantised MatMuls,
        // fp32 fuses the six attention blocks.
        Assert.Equal(new CpuGraphTuningResult(13, precision == "int8" ? 36 : 0, Attentions: precision == "int8" ? 0 : 6), tuned.CpuTuning);
        Assert.Null(plain.CpuTuning);
        var tunedOps = OpCounts(tunedPath);
        var plainOps = OpCounts(plainPath);
        Assert.Equal(13, plainOps.GetValueOrDefault("SkipLayerNormalization"));
        Assert.Equal(0, tunedOps.GetValueOrDefault("SkipLayerNormalization"));
        Assert.Equal(13, tunedOps.GetValueOrDefault("LayerNormalization"));
        if (precision == "int8")
        {
            Assert.Equal(6, plainOps.GetValueOrDefault("BiasGelu"));
            Assert.Equal(0, tunedOps.GetValueOrDefault("BiasGelu"));
            Assert.Equal(36, tunedOps.GetValueOrDefault("DynamicQuantizeMatMul"));
            Assert.Equal(0, tunedOps.GetValueOrDefault("MultiHeadAttention"));
        }
        else
        {
            Assert.Equal(6, tunedOps.GetValueOrDefault("MultiHeadAttention"));
            Assert.Equal(0, tunedOps.GetValueOrDefault("Softmax"));
        }

        var tokenizer = WordPieceTokenizer.FromFile(pretrained.VocabPath);
        var sequences = Texts.Select(t => Ids(tokenizer, t)).ToList();
        using var batch = new EncoderBatch(sequences.Count, sequences.Max(s => s.Length));
        for (var i = 0; i < sequences.Count; i++)
        {
            batch.SetRow(i, sequences[i]);
        }

        using var a = tuned.Run(batch);
        using var b = plain.Run(batch);
        if (precision == "fp32")
        {
            var (worst, _) = Difference(a, b, layers, sequences);
            Assert.True(worst < 1e-4f, $"fp32: tuned and untuned hidden states differ by up to {worst:E2}");
            return;
        }

        // int8 quantises each MatMul's activations with one scale per call, so a change in the last bit of one value can
        // move others by a rounding step: tuned and untuned int8 are each compared with fp32, and the tuned graph must
        // be as close to it as the untuned one.
        using var reference = new EncoderSession(EncoderGraph.ToBytes(EncoderGraph.Parse(pretrained.ModelPath)), layers, cpu with { CpuGraphTuning = false });
        using var exact = reference.Run(batch);
        var (_, tunedError) = Difference(a, exact, layers, sequences);
        var (_, plainError) = Difference(b, exact, layers, sequences);
        Assert.True(tunedError <= (plainError * 1.1) + 1e-3, $"int8 mean error against fp32: tuned {tunedError:E2}, untuned {plainError:E2}");
    }

    private static (float Worst, double Mean) Difference(HiddenStates a, HiddenStates b, int[] layers, List<int[]> sequences)
    {
        var worst = 0f;
        var sum = 0.0;
        var count = 0;
        foreach (var layer in layers)
        {
            for (var i = 0; i < sequences.Count; i++)
            {
                for (var position = 0; position < sequences[i].Length; position++)
                {
                    var x = a.Token(layer, i, position);
                    var y = b.Token(layer, i, position);
                    for (var h = 0; h < x.Length; h++)
                    {
                        var d = Math.Abs(x[h] - y[h]);
                        worst = Math.Max(worst, d);
                        sum += d;
                        count++;
                    }
                }
            }
        }

        return (worst, sum / count);
    }

    [Fact]
    public void Apply_GraphWithoutTheseShapes_ChangesNothing()
    {
        // A bare MatMul + Add with a constant and no layer norm: neither rewrite applies.
        var model = new Onnx.ModelProto { Graph = new Onnx.GraphProto() };
        var add = new Onnx.NodeProto { OpType = "Add" };
        add.Input.AddRange(["x", "bias"]);
        add.Output.Add("y");
        model.Graph.Node.Add(add);
        var bias = new Onnx.TensorProto { Name = "bias", DataType = (int)Onnx.TensorProto.Types.DataType.Float };
        bias.Dims.Add(1);
        bias.FloatData.Add(1f);
        model.Graph.Initializer.Add(bias);
        var before = model.Clone();

        Assert.Equal(new CpuGraphTuningResult(0, 0), CpuGraphTuning.Apply(model));
        Assert.Equal(before, model);
    }

    private static Dictionary<string, int> OpCounts(string path) =>
        EncoderGraph.Parse(path).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    private static int[] Ids(WordPieceTokenizer tokenizer, string text)
    {
        var tokens = new List<Token>();
        tokenizer.Tokenize(text, tokens);
        return [tokenizer.ClsId, .. tokens.Select(t => t.Id), tokenizer.SepId];
    }
}

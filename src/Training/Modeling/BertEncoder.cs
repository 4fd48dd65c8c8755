using System.Diagnostics.CodeAnalysis;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Training.Native;
using StreamBert.Training.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StreamBert.Training.Modeling;

/// <summary>
/// A BERT encoder in TorchSharp whose parameter names are exactly those of the Hugging Face model
/// (<c>embeddings.word_embeddings.weight</c>, <c>encoder.layer.0.attention.self.query.weight</c>, …), so weights
/// move between it, the pretrained ONNX export and <see cref="BertOnnxWriter"/> by name alone.
/// </summary>
/// <remarks>
/// <see cref="forward"/> returns the hidden states of every layer (index 0 = embeddings output, K = output of layer K),
/// the same numbering as the serving graph's <c>hidden.K</c> outputs, so a head can read the layers it was designed
/// for. Dropout acts only in training mode; call <c>eval()</c> for inference and parity checks.
/// </remarks>
public sealed class BertEncoder : nn.Module<Tensor, Tensor, Tensor, Tensor[]>
{
    private readonly BertEmbeddings _embeddings;
    private readonly ModuleList<BertLayer> _layers;

    [SuppressMessage("Reliability", "CA2000:Dispose objects before losing scope", Justification = "Registered submodules are owned by this module and disposed with it (TorchSharp).")]
    public BertEncoder(BertConfig config) : base(TorchRuntime.Ready(nameof(BertEncoder)))
    {
        Config = config;
        _embeddings = new BertEmbeddings(config);
        _layers = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new BertLayer(config)).ToArray());
        register_module("embeddings", _embeddings);
        var encoder = new Container("encoder");
        encoder.Add("layer", _layers);
        register_module("encoder", encoder);
    }

    public BertConfig Config { get; }

    /// <summary>
    /// Loads the pretrained encoder from an ONNX export (by default the shipped all-MiniLM-L6-v2), in eval mode on
    /// <paramref name="device"/> (default <see cref="TorchRuntime.DefaultDevice"/>).
    /// </summary>
    /// <param name="modelPath">The ONNX export; null for the shipped one.</param>
    /// <param name="device">Where the parameters live.</param>
    /// <param name="caseTypes">
    /// The encoder reads case token types (<see cref="BertConfig.CaseTypes"/>). A pretrained table (one row per
    /// segment) gets one row per case type, each a copy of the segment-0 row, so before fine-tuning the encoder
    /// computes exactly what it did pretrained and training learns what a capital means; a table that already has them
    /// (a fine-tuned encoder read back from its bundle) is kept.
    /// </param>
    /// <remarks>
    /// A graph written by <see cref="BertOnnxWriter"/> also holds its heads' weights (under <c>heads.</c>); they are not
    /// the encoder's and are left out. Any other tensor the model lacks, or lacks but the model has, fails the load.
    /// </remarks>
    public static BertEncoder FromOnnx(string? modelPath = null, Device? device = null, bool caseTypes = false)
    {
        TorchRuntime.EnsureLoaded();
        var model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath ?? MiniLmResources.Ensure().ModelPath));
        var weights = OnnxWeights.Read(model);
        var heads = OnnxWeights.AttentionHeads(model)
            ?? throw new InvalidDataException("The graph does not show the attention head count (no Reshape of the keys by a constant shape).");
        foreach (var head in weights.Keys.Where(k => k.StartsWith(BertOnnxWriter.HeadPrefix, StringComparison.Ordinal)).ToList())
        {
            weights.Remove(head);
        }

        if (caseTypes)
        {
            var types = weights.TryGetValue(TokenTypeWeight, out var table) ? table : throw new InvalidDataException($"The model has no {TokenTypeWeight}.");
            if (types.Shape[0] != WordShape.CaseTypeCount)
            {
                weights[TokenTypeWeight] = CaseTypeTable(types);
            }
        }

        var encoder = new BertEncoder(BertConfig.FromWeights(weights, heads) with { CaseTypes = caseTypes });
        foreach (var ignored in OnnxWeights.NotEncoderWeights)
        {
            weights.Remove(ignored);
        }

        encoder.LoadWeights(weights.Values);
        encoder.eval();
        return device is null ? encoder.MoveTo(TorchRuntime.DefaultDevice) : encoder.MoveTo(device);
    }

    private const string TokenTypeWeight = "embeddings.token_type_embeddings.weight";

    private static NamedTensor CaseTypeTable(NamedTensor segments)
    {
        var hidden = checked((int)segments.Shape[1]);
        var rows = new float[WordShape.CaseTypeCount * hidden];
        for (var r = 0; r < WordShape.CaseTypeCount; r++)
        {
            Array.Copy(segments.Data, 0, rows, r * hidden, hidden);
        }

        return new NamedTensor(segments.Name, [WordShape.CaseTypeCount, hidden], rows);
    }

    /// <summary>Moves the parameters to <paramref name="device"/> and returns this encoder.</summary>
    public BertEncoder MoveTo(Device device)
    {
        this.to(device);
        return this;
    }

    /// <summary>Copies <paramref name="tensors"/> into the parameters, requiring exactly one tensor of the right shape per parameter.</summary>
    /// <exception cref="InvalidDataException">Names are missing or extra (all listed), or a shape differs.</exception>
    public void LoadWeights(IEnumerable<NamedTensor> tensors)
    {
        var byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var parameters = named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        var missing = parameters.Keys.Where(k => !byName.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var extra = byName.Keys.Where(k => !parameters.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new InvalidDataException(
                $"Encoder weights do not match the model: missing [{string.Join(", ", missing)}]; extra [{string.Join(", ", extra)}].");
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in parameters)
        {
            var tensor = byName[name];
            if (!tensor.Shape.SequenceEqual(parameter.shape))
            {
                throw new InvalidDataException(
                    $"{name} has shape [{string.Join(",", tensor.Shape)}], the model expects [{string.Join(",", parameter.shape)}].");
            }

            parameter.copy_(torch.tensor(tensor.Data, tensor.Shape));
        }
    }

    /// <summary>Every parameter as a CPU float array under its Hugging Face name (what <see cref="BertOnnxWriter"/> writes).</summary>
    public IReadOnlyList<NamedTensor> ExportWeights() => ParameterArrays(this);

    /// <summary>Hidden states [batch, sequence, hidden] of the embeddings (index 0) and of each layer (1..N).</summary>
    /// <param name="inputIds">int64 [batch, sequence].</param>
    /// <param name="attentionMask">int64 [batch, sequence], 1 for real tokens, 0 for padding.</param>
    /// <param name="tokenTypeIds">int64 [batch, sequence].</param>
    public override Tensor[] forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        // The Hugging Face export's additive mask: 0 where attended, the most negative float where padded.
        var maskBias = (1.0f - attentionMask.unsqueeze(1).unsqueeze(2).to_type(ScalarType.Float32)) * float.MinValue;
        var states = new Tensor[Config.Layers + 1];
        states[0] = _embeddings.forward(inputIds, tokenTypeIds);
        for (var i = 0; i < Config.Layers; i++)
        {
            states[i + 1] = _layers[i].forward(states[i], maskBias);
        }

        foreach (var state in states)
        {
            state.MoveToOuterDisposeScope();
        }

        return states;
    }

    internal static IReadOnlyList<NamedTensor> ParameterArrays(nn.Module module)
    {
        var result = new List<NamedTensor>();
        using var scope = NewDisposeScope();
        foreach (var (name, parameter) in module.named_parameters())
        {
            var cpu = parameter.detach().cpu().contiguous();
            result.Add(new NamedTensor(name, cpu.shape, cpu.data<float>().ToArray()));
        }

        return result;
    }

    /// <summary>A module that only names its children, to reproduce the Hugging Face parameter paths.</summary>
    internal sealed class Container(string name) : nn.Module(name)
    {
        public T Add<T>(string childName, T child) where T : nn.Module
        {
            register_module(childName, child);
            return child;
        }
    }

    private sealed class BertEmbeddings : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly Embedding _words;
        private readonly Embedding _positions;
        private readonly Embedding _types;
        private readonly LayerNorm _norm;
        private readonly Dropout _dropout;

        public BertEmbeddings(BertConfig config) : base(nameof(BertEmbeddings))
        {
            _words = nn.Embedding(config.VocabSize, config.Hidden);
            _positions = nn.Embedding(config.MaxPositions, config.Hidden);
            _types = nn.Embedding(config.TypeVocabSize, config.Hidden);
            _norm = nn.LayerNorm(config.Hidden, config.LayerNormEps);
            _dropout = nn.Dropout(config.Dropout);
            register_module("word_embeddings", _words);
            register_module("position_embeddings", _positions);
            register_module("token_type_embeddings", _types);
            register_module("LayerNorm", _norm);
            register_module("dropout", _dropout);
        }

        public override Tensor forward(Tensor inputIds, Tensor tokenTypeIds)
        {
            using var scope = NewDisposeScope();
            var positions = arange(inputIds.shape[1], ScalarType.Int64, inputIds.device).unsqueeze(0);
            // Same summation order as the export (words + types, then positions): float addition is not associative.
            var sum = _words.forward(inputIds) + _types.forward(tokenTypeIds) + _positions.forward(positions);
            return _dropout.forward(_norm.forward(sum)).MoveToOuterDisposeScope();
        }
    }

    private sealed class BertLayer : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly BertConfig _config;
        private readonly Linear _query;
        private readonly Linear _key;
        private readonly Linear _value;
        private readonly Linear _attentionOutput;
        private readonly LayerNorm _attentionNorm;
        private readonly Linear _intermediate;
        private readonly Linear _output;
        private readonly LayerNorm _outputNorm;
        private readonly Dropout _dropout;

        [SuppressMessage("Reliability", "CA2000:Dispose objects before losing scope", Justification = "Registered submodules are owned by this module and disposed with it (TorchSharp).")]
        public BertLayer(BertConfig config) : base(nameof(BertLayer))
        {
            _config = config;
            _query = nn.Linear(config.Hidden, config.Hidden);
            _key = nn.Linear(config.Hidden, config.Hidden);
            _value = nn.Linear(config.Hidden, config.Hidden);
            _attentionOutput = nn.Linear(config.Hidden, config.Hidden);
            _attentionNorm = nn.LayerNorm(config.Hidden, config.LayerNormEps);
            _intermediate = nn.Linear(config.Hidden, config.Intermediate);
            _output = nn.Linear(config.Intermediate, config.Hidden);
            _outputNorm = nn.LayerNorm(config.Hidden, config.LayerNormEps);
            _dropout = nn.Dropout(config.Dropout);

            var attention = new Container("attention");
            var self = attention.Add("self", new Container("self"));
            self.Add("query", _query);
            self.Add("key", _key);
            self.Add("value", _value);
            var selfOutput = attention.Add("output", new Container("output"));
            selfOutput.Add("dense", _attentionOutput);
            selfOutput.Add("LayerNorm", _attentionNorm);
            var intermediate = new Container("intermediate");
            intermediate.Add("dense", _intermediate);
            var output = new Container("output");
            output.Add("dense", _output);
            output.Add("LayerNorm", _outputNorm);
            register_module("attention", attention);
            register_module("intermediate", intermediate);
            register_module("output", output);
            register_module("dropout", _dropout);
        }

        public override Tensor forward(Tensor hidden, Tensor maskBias)
        {
            using var scope = NewDisposeScope();
            var batch = hidden.shape[0];
            var length = hidden.shape[1];
            Tensor Heads(Linear projection) =>
                projection.forward(hidden).view(batch, length, _config.Heads, _config.HeadSize).permute(0, 2, 1, 3);

            var scores = Heads(_query).matmul(Heads(_key).transpose(-1, -2)) / MathF.Sqrt(_config.HeadSize);
            var probabilities = _dropout.forward((scores + maskBias).softmax(-1));
            var context = probabilities.matmul(Heads(_value)).permute(0, 2, 1, 3).reshape(batch, length, _config.Hidden);
            var attended = _attentionNorm.forward(_dropout.forward(_attentionOutput.forward(context)) + hidden);
            var expanded = nn.functional.gelu(_intermediate.forward(attended));
            return _outputNorm.forward(_dropout.forward(_output.forward(expanded)) + attended).MoveToOuterDisposeScope();
        }
    }
}

using System.Globalization;
using StreamBert.Training.Modeling;
using StreamBert.Training.Native;
using static TorchSharp.torch;

namespace StreamBert.Training.FineTuning;

/// <summary>
/// One training row of the joint articles model: either a claims sentence (<see cref="Claim"/>) or a tagged NER
/// sentence (<see cref="Entities"/>), never both. Rows of both kinds share batches, so each step moves the encoder
/// for both tasks at once.
/// </summary>
public sealed record ArticleExample : ITokenizedExample
{
    private ArticleExample(SequenceExample? claim, TokenExample? entities)
    {
        Claim = claim;
        Entities = entities;
        Ids = claim?.Ids ?? entities!.Ids;
        WordShapes = claim is null ? entities!.Shapes : claim.Shapes;
    }

    public SequenceExample? Claim { get; }

    public TokenExample? Entities { get; }

    public int[] Ids { get; }

    public float[]? WordShapes { get; }

    public static ArticleExample Of(SequenceExample claim) => new(claim ?? throw new ArgumentNullException(nameof(claim)), null);

    public static ArticleExample Of(TokenExample entities) => new(null, entities ?? throw new ArgumentNullException(nameof(entities)));
}

/// <summary>The two heads of the articles bundle as one module, so the loop's optimiser, modes and snapshots cover both.</summary>
public sealed class ArticleHeads : nn.Module
{
    public ArticleHeads(SequenceClassificationHead claims, TokenClassificationHead ner)
        : base(TorchRuntime.Ready(nameof(ArticleHeads)))
    {
        Claims = claims;
        Ner = ner;
        register_module("claims", claims);
        register_module("ner", ner);
    }

    public SequenceClassificationHead Claims { get; }

    public TokenClassificationHead Ner { get; }
}

/// <summary>
/// Fine-tunes one encoder for claims and NER together (the <c>articles</c> bundle, served in one pass per sentence):
/// each batch mixes rows of both tasks, the encoder runs once over the whole batch, each head reads its own rows,
/// and the loss is the two tasks' cross-entropies weighted by their rows in the batch — so over an epoch each task
/// pulls on the encoder in proportion to its data. Validation is the mean of claim F1 and entity F1, the two
/// figures the bundle is judged by, each computed exactly as the single-task loops compute it.
/// </summary>
public sealed class ArticleFineTuner : FineTuner<ArticleExample>
{
    private readonly ArticleHeads _heads;
    private readonly SequenceFineTuner _claims;
    private readonly TokenFineTuner _ner;
    private readonly float[]? _claimWeights;
    private readonly TextWriter? _log;

    /// <param name="claimWeights">Per-class loss weights of the claims head (balanced, as single-task claims training uses); null for none.</param>
    public ArticleFineTuner(BertEncoder encoder, ArticleHeads heads, IReadOnlyList<string> tags, FineTuneOptions options, TextWriter? log = null, float[]? claimWeights = null)
        : base(encoder, heads, options, log)
    {
        ArgumentNullException.ThrowIfNull(heads);
        _heads = heads;
        _claimWeights = claimWeights;
        _log = log;
        // The single-task loops supply prediction and scoring over the same encoder and heads; they never train here.
        _claims = new SequenceFineTuner(encoder, heads.Claims, options, null, claimWeights);
        _ner = new TokenFineTuner(encoder, heads.Ner, tags, options);
    }

    /// <summary>Claim F1 and entity F1 of the last validation.</summary>
    public (double ClaimF1, double EntityF1) LastValidation { get; private set; }

    /// <summary>Probability of "claim" per claims row, in input order (rows must all be claims).</summary>
    public float[] ClaimProbabilities(IReadOnlyList<SequenceExample> examples) => _claims.PositiveProbabilities(examples);

    /// <summary>Tags per word of NER rows, in input order.</summary>
    public string[][] PredictTags(IReadOnlyList<TokenExample> examples) => _ner.PredictTags(examples);

    protected override Tensor ComputeLoss(IReadOnlyList<ArticleExample> batch)
    {
        var padded = Pad(batch);
        var hidden = EncodeBatch(padded);
        var claimRows = new List<long>();
        var nerRows = new List<long>();
        for (var r = 0; r < batch.Count; r++)
        {
            (batch[r].Claim is null ? nerRows : claimRows).Add(r);
        }

        Tensor? loss = null;
        var device = padded.Ids.device;
        if (claimRows.Count > 0)
        {
            var rows = tensor(claimRows.ToArray(), device: device);
            var logits = _heads.Claims.forward(hidden.Select(h => h.index_select(0, rows)).ToList(), padded.Mask.index_select(0, rows));
            var labels = tensor(claimRows.Select(r => (long)batch[(int)r].Claim!.Label).ToArray(), device: device);
            var weights = _claimWeights is null ? null : tensor(_claimWeights, device: device);
            loss = nn.functional.cross_entropy(logits, labels, weight: weights) * (claimRows.Count / (double)batch.Count);
        }

        if (nerRows.Count > 0)
        {
            var rows = tensor(nerRows.ToArray(), device: device);
            var length = padded.Length;
            var tagCount = _heads.Ner.ClassCount;
            Tensor? shapes = null;
            if (_heads.Ner.WordShape)
            {
                var values = new float[nerRows.Count * length * Engine.Inference.WordShape.Size];
                for (var i = 0; i < nerRows.Count; i++)
                {
                    batch[(int)nerRows[i]].Entities!.Shapes.CopyTo(values, i * length * Engine.Inference.WordShape.Size);
                }

                shapes = tensor(values, [nerRows.Count, length, Engine.Inference.WordShape.Size], device: device);
            }

            var logits = _heads.Ner.forward(hidden.Select(h => h.index_select(0, rows)).ToList(), shapes);
            var labels = new long[nerRows.Count * length];
            Array.Fill(labels, TokenFineTuner.Ignore);
            for (var i = 0; i < nerRows.Count; i++)
            {
                batch[(int)nerRows[i]].Entities!.PieceLabels.CopyTo(labels, i * length);
            }

            var nerLoss = nn.functional.cross_entropy(logits.reshape(-1, tagCount), tensor(labels, device: device), ignore_index: TokenFineTuner.Ignore)
                * (nerRows.Count / (double)batch.Count);
            loss = loss is null ? nerLoss : loss + nerLoss;
        }

        return loss!;
    }

    protected override double Evaluate(IReadOnlyList<ArticleExample> examples)
    {
        var claims = examples.Where(e => e.Claim is not null).Select(e => e.Claim!).ToList();
        var sentences = examples.Where(e => e.Entities is not null).Select(e => e.Entities!).ToList();
        var claimF1 = claims.Count == 0 ? double.NaN : _claims.Validate(claims);
        var entityF1 = sentences.Count == 0 ? double.NaN : _ner.Validate(sentences);
        LastValidation = (claimF1, entityF1);
        _log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  claims F1 {claimF1:F4} ({claims.Count} sentences), entity F1 {entityF1:F4} ({sentences.Count} sentences)"));
        return (double.IsNaN(claimF1), double.IsNaN(entityF1)) switch
        {
            (false, false) => (claimF1 + entityF1) / 2,
            (true, false) => entityF1,
            (false, true) => claimF1,
            _ => 0,
        };
    }
}

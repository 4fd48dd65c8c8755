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
    private readonly SequenceFineTuner _claims;
    private readonly TokenFineTuner _ner;
    private readonly TextWriter? _log;

    /// <param name="claimWeights">Per-class loss weights of the claims head (balanced, as single-task claims training uses); null for none.</param>
    public ArticleFineTuner(BertEncoder encoder, ArticleHeads heads, IReadOnlyList<string> tags, FineTuneOptions options, TextWriter? log = null, float[]? claimWeights = null)
        : base(encoder, heads, options, log)
    {
        ArgumentNullException.ThrowIfNull(heads);
        _log = log;
        // The single-task loops supply each head's loss, prediction and scoring over the same encoder; they never train here.
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

        // Each head's loss on its own rows of the one encoder pass, as its single-task loop computes it.
        Tensor? loss = null;
        if (claimRows.Count > 0)
        {
            var rows = tensor(claimRows.ToArray(), device: padded.Ids.device);
            loss = _claims.Loss(hidden.Select(h => h.index_select(0, rows)).ToList(), padded.Mask.index_select(0, rows), claimRows.Select(r => batch[(int)r].Claim!).ToList())
                * (claimRows.Count / (double)batch.Count);
        }

        if (nerRows.Count > 0)
        {
            var rows = tensor(nerRows.ToArray(), device: padded.Ids.device);
            var nerLoss = _ner.Loss(hidden.Select(h => h.index_select(0, rows)).ToList(), nerRows.Select(r => batch[(int)r].Entities!).ToList(), padded.Length)
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

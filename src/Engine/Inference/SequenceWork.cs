using StreamBert.Contracts;

namespace StreamBert.Engine.Inference;

/// <summary>Task heads a sequence must go through; one encoder pass serves all of them.</summary>
[Flags]
public enum TaskSet
{
    None = 0,
    Spam = 1,
    Claims = 2,
    Ner = 4,
}

/// <summary>
/// One encoder input (a window of a message, a sentence of an article) and, after the engine ran,
/// the outputs of its heads. The owner (<see cref="State"/>) reassembles windows and sentences.
/// </summary>
public sealed class SequenceWork
{
    /// <summary>Token ids including [CLS] and [SEP].</summary>
    public required int[] Ids { get; init; }

    public required TaskSet Tasks { get; init; }

    /// <summary>Which encoder of the model set this sequence runs on (sequences of one batch share it).</summary>
    public int EncoderIndex { get; init; }

    /// <summary>
    /// NER heads that read word shape: <see cref="WordShape.Size"/> values per position, row-major
    /// [Ids.Length, WordShape.Size], each position carrying the shape of the word it belongs to.
    /// </summary>
    public float[]? WordShapes { get; init; }

    /// <summary>Whatever the caller needs to route results back (document, sentence index, window).</summary>
    public object? State { get; init; }

    /// <summary>Calibrated probability of the positive class (spam) after the engine ran.</summary>
    public float SpamScore { get; set; }

    /// <summary>The spam head's logit margin (spam minus ham) before calibration: what calibration is fitted on.</summary>
    public float SpamMargin { get; set; }

    /// <summary>The served spam threshold of the head that scored this sequence (its manifest's operating point).</summary>
    public double SpamThreshold { get; set; } = TaskHead.DefaultThreshold;

    /// <summary>Calibrated probability of "claim" after the engine ran.</summary>
    public float ClaimScore { get; set; }

    /// <summary>The claims head's logit margin (claim minus no-claim) before calibration.</summary>
    public float ClaimMargin { get; set; }

    /// <summary>The served claim threshold of the head that scored this sequence.</summary>
    public double ClaimThreshold { get; set; } = TaskHead.DefaultThreshold;

    /// <summary>NER tag probabilities per position, row-major [Ids.Length, tags]; [CLS]/[SEP] rows are unused.</summary>
    public float[]? TagProbabilities { get; set; }

    /// <summary>The exact model versions that produced the outputs (claims and entities may come from different bundles).</summary>
    public ModelRef? SpamModel { get; set; }
    public ModelRef? ClaimsModel { get; set; }
    public ModelRef? EntitiesModel { get; set; }

    /// <summary>Padded length of the batch this sequence ran in (for padding metrics).</summary>
    public int Length => Ids.Length;
}

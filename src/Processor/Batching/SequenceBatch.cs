using StreamBert.Engine.Inference;

namespace StreamBert.Processor.Batching;

/// <summary>Sequences that run through the encoder together, padded to <see cref="PaddedLength"/>.</summary>
public sealed record SequenceBatch(List<SequenceWork> Items, int PaddedLength, int RealTokens, long FormedAtTicks)
{
    /// <summary>Positions the engine ran, padding included, once it has run the batch (an encoder that packs puts several sequences in a row).</summary>
    public int? EncodedPositions { get; set; }

    /// <summary>Positions through the encoder: as run when known, else one row per sequence padded to the longest.</summary>
    public int PaddedTokens => EncodedPositions ?? (Items.Count * PaddedLength);

    /// <summary>Share of the batch's positions that are padding (0 = none wasted).</summary>
    public double PaddingRatio => PaddedTokens == 0 ? 0 : 1.0 - ((double)RealTokens / PaddedTokens);
}

using StreamBert.Engine.Inference;

namespace StreamBert.Processor.Batching;

/// <summary>Sequences that run through the encoder together, padded to <see cref="PaddedLength"/>.</summary>
public sealed record SequenceBatch(List<SequenceWork> Items, int PaddedLength, int RealTokens, long FormedAtTicks)
{
    public int PaddedTokens => Items.Count * PaddedLength;

    /// <summary>Share of the batch's positions that are padding (0 = none wasted).</summary>
    public double PaddingRatio => PaddedTokens == 0 ? 0 : 1.0 - ((double)RealTokens / PaddedTokens);
}

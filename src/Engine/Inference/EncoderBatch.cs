using System.Buffers;

namespace StreamBert.Engine.Inference;

/// <summary>
/// A padded batch of token sequences in the encoder's input layout (row-major int64 [rows, length]).
/// Buffers are rented from the shared pool and returned on dispose, so forming a batch allocates
/// nothing per message.
/// </summary>
public sealed class EncoderBatch : IDisposable
{
    private long[]? _ids;
    private long[]? _mask;
    private long[]? _types;
    private long[]? _positions;

    public EncoderBatch(int rows, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        Rows = rows;
        Length = length;
        var size = rows * length;
        _ids = ArrayPool<long>.Shared.Rent(size);
        _mask = ArrayPool<long>.Shared.Rent(size);
        _types = ArrayPool<long>.Shared.Rent(size);
        _positions = ArrayPool<long>.Shared.Rent(size);
        Array.Clear(_ids, 0, size);
        Array.Clear(_mask, 0, size);
        Array.Clear(_types, 0, size);
        Array.Clear(_positions, 0, size);
    }

    public int Rows { get; }

    /// <summary>Padded sequence length (the longest row, including [CLS] and [SEP]).</summary>
    public int Length { get; }

    /// <summary>Tokens that are not padding (sum of row lengths).</summary>
    public int RealTokens { get; private set; }

    public Memory<long> InputIds => _ids.AsMemory(0, Rows * Length);
    public Memory<long> AttentionMask => _mask.AsMemory(0, Rows * Length);
    public Memory<long> TokenTypeIds => _types.AsMemory(0, Rows * Length);

    /// <summary>Each token's position within its own sequence (read by an encoder that packs, see <see cref="EncoderGraph.TryEnablePacking"/>).</summary>
    public Memory<long> PositionIds => _positions.AsMemory(0, Rows * Length);

    /// <summary>Writes one row: <paramref name="ids"/> already include [CLS] and [SEP].</summary>
    /// <param name="row">Row index.</param>
    /// <param name="ids">Token ids.</param>
    /// <param name="caseShapes">For an encoder with case token types: the row's word shapes, one per id.</param>
    public void SetRow(int row, ReadOnlySpan<int> ids, ReadOnlySpan<float> caseShapes = default) =>
        SetSegment(row, 0, 1, ids, caseShapes);

    /// <summary>
    /// Writes one sequence at <paramref name="offset"/> of <paramref name="row"/> as segment <paramref name="segment"/>
    /// (1, 2, … within the row): its attention mask holds the segment number and its positions restart at 0, so an
    /// encoder that packs attends within the segment only and the sequence's hidden states are those of a row of its own.
    /// </summary>
    public void SetSegment(int row, int offset, int segment, ReadOnlySpan<int> ids, ReadOnlySpan<float> caseShapes = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + ids.Length, Length);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(segment);
        var start = (row * Length) + offset;
        var idSpan = InputIds.Span.Slice(start, ids.Length);
        var maskSpan = AttentionMask.Span.Slice(start, ids.Length);
        var positionSpan = PositionIds.Span.Slice(start, ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            idSpan[i] = ids[i];
            maskSpan[i] = segment;
            positionSpan[i] = i;
        }

        if (!caseShapes.IsEmpty)
        {
            if (caseShapes.Length != ids.Length * WordShape.Size)
            {
                throw new ArgumentException($"{ids.Length} ids need {ids.Length * WordShape.Size} shape values, got {caseShapes.Length}.", nameof(caseShapes));
            }

            WordShape.WriteCaseTypes(caseShapes, TokenTypeIds.Span.Slice(start, ids.Length));
        }

        RealTokens += ids.Length;
    }

    public void Dispose()
    {
        ReturnBuffer(ref _ids);
        ReturnBuffer(ref _mask);
        ReturnBuffer(ref _types);
        ReturnBuffer(ref _positions);
    }

    private static void ReturnBuffer(ref long[]? buffer)
    {
        var b = Interlocked.Exchange(ref buffer, null);
        if (b is not null)
        {
            ArrayPool<long>.Shared.Return(b);
        }
    }
}

namespace StreamBert.Engine.Tokenization;

/// <summary>The normalized characters of the current pre-token, each with its original UTF-16 range.</summary>
internal ref struct WordBuffer
{
    public readonly Span<char> Units;
    public readonly Span<int> Starts;
    public readonly Span<int> Ends;
    public int Length;      // UTF-16 units buffered (after the two prefix slots)
    public int CodePoints;  // normalized code points seen, including any beyond the buffer
    public int FirstStart;
    public int LastEnd;

    public WordBuffer(Span<char> units, Span<int> starts, Span<int> ends)
    {
        Units = units;
        Starts = starts;
        Ends = ends;
    }

    public void Add(int codePoint, int start, int end)
    {
        if (CodePoints == 0)
        {
            FirstStart = start;
        }

        LastEnd = end;
        if (++CodePoints > WordPieceTokenizer.MaxInputCharsPerWord)
        {
            return; // the word will be [UNK]; only its extent matters now
        }

        if (codePoint < 0x10000)
        {
            Put((char)codePoint, start, end);
        }
        else
        {
            Put((char)((codePoint >> 10) + 0xD7C0), start, end);
            Put((char)((codePoint & 0x3FF) + 0xDC00), start, end);
        }
    }

    public void Clear()
    {
        Length = 0;
        CodePoints = 0;
    }

    private void Put(char unit, int start, int end)
    {
        Units[2 + Length] = unit;
        Starts[Length] = start;
        Ends[Length] = end;
        Length++;
    }
}

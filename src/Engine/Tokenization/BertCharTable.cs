namespace StreamBert.Engine.Tokenization;

/// <summary>What BERT basic tokenization does with one input code point.</summary>
internal enum BertCharKind
{
    /// <summary>Part of a word; normalizes to <c>codePoint + value</c>.</summary>
    Word = 0,

    /// <summary>A word of its own (punctuation, CJK ideograph); normalizes to <c>codePoint + value</c>.</summary>
    Isolated = 1,

    /// <summary>Whitespace: ends the current word and is dropped.</summary>
    Space = 2,

    /// <summary>Dropped without ending the word: a mark stripped with the accents.</summary>
    Removed = 3,

    /// <summary>Several word characters (a canonical decomposition that keeps more than one character).</summary>
    Multi = 4,

    /// <summary>A precomposed Hangul syllable: its two or three conjoining jamo.</summary>
    Hangul = 5,

    /// <summary>
    /// Dropped without ending the word by clean_text (controls, format characters, lone surrogates): unlike
    /// <see cref="Removed"/>, it never reaches NFD, so it does not take part in canonical reordering.
    /// </summary>
    Dropped = 6,

    /// <summary>
    /// Its NFD holds a combining character that survives accent stripping, so NFD's canonical reordering can
    /// move it: handled by <see cref="CombiningRun"/>; value = index into ReorderPool.
    /// </summary>
    Reorder = 7,
}

/// <summary>
/// The combined effect of Hugging Face's <c>BertNormalizer</c> (clean text, CJK spacing, NFD + strip
/// non-spacing marks, lowercase) and <c>BertPreTokenizer</c> (split on whitespace, isolate punctuation) on
/// every code point, as a sorted list of runs generated from the reference (BertCharTable.Data.g.cs).
/// </summary>
/// <remarks>
/// Why a table rather than .NET's Unicode APIs: the reference uses the Unicode data of the Rust crates it was
/// built with (older than .NET's for categories, newer for lowercasing), and .NET cannot decompose to NFD at
/// all under InvariantGlobalization. A frozen table gives the reference's behaviour on any runtime, and a
/// runtime upgrade cannot silently change token ids. Per-code-point lookup is exact because every step of the
/// reference works per character, except NFD's canonical reordering, which <see cref="CombiningRun"/> replays
/// where it can matter. Each entry is <c>(value &lt;&lt; 3) | kind</c>.
/// </remarks>
internal static partial class BertCharTable
{
    /// <summary>Most code points one input code point can normalize to.</summary>
    public const int MaxExpansion = 4;

    // Latin, Greek, Cyrillic, Hebrew and Arabic by direct index; the rest by binary search over the runs.
    private const int DirectCount = 0x800;

    // Nothing below U+00C0 (À) decomposes or combines: ASCII never pays for the NFD lookup.
    private const int FirstDecomposable = 0xC0;

    private const int HangulFirst = 0xAC00;
    private const int HangulLast = 0xD7A3;

    // The generated data copied once into arrays: reading a ReadOnlySpan property over static data allocates in
    // unoptimized (tier-0) code, and the hot path must not allocate even before tiering up. Initialized in this
    // order: Direct is built from RunTable.
    private static readonly int[] RunTable = Runs.ToArray();
    private static readonly int[] NfdRunTable = NfdRuns.ToArray();
    private static readonly int[] MultiTable = MultiPool.ToArray();
    private static readonly int[] ReorderTable = ReorderPool.ToArray();
    private static readonly int[] Direct = BuildDirect();

    public static int Lookup(int codePoint) =>
        (uint)codePoint < DirectCount ? Direct[codePoint] : Search(codePoint);

    public static BertCharKind KindOf(int entry) => (BertCharKind)(entry & 7);

    public static int ValueOf(int entry) => entry >> 3;

    /// <summary>
    /// Writes the output code points of a <see cref="BertCharKind.Multi"/> or <see cref="BertCharKind.Hangul"/>
    /// entry and returns how many.
    /// </summary>
    public static int Expand(int codePoint, int entry, Span<int> output)
    {
        if (KindOf(entry) == BertCharKind.Hangul)
        {
            // Unicode's algorithmic decomposition: syllable = L * 588 + V * 28 + T.
            var s = codePoint - HangulFirst;
            output[0] = 0x1100 + (s / 588);
            output[1] = 0x1161 + (s % 588 / 28);
            if (s % 28 == 0)
            {
                return 2;
            }

            output[2] = 0x11A7 + (s % 28);
            return 3;
        }

        var pool = MultiTable;
        var at = ValueOf(entry);
        var count = pool[at];
        pool.AsSpan(at + 1, count).CopyTo(output);
        return count;
    }

    /// <summary>
    /// Combining ranks of the NFD of <paramref name="codePoint"/>: count in bits 0-2, then 7 bits per element,
    /// 0 for a starter, else a rank that orders non-starters as the reference's canonical combining classes do.
    /// 0 when the NFD has no non-starter.
    /// </summary>
    public static int NfdRanks(int codePoint) => codePoint < FirstDecomposable ? 0 : Search(NfdRunTable, codePoint);

    public static int NfdCount(int ranks) => ranks & 7;

    public static int NfdRank(int ranks, int index) => (ranks >> (3 + (7 * index))) & 0x7F;

    /// <summary>
    /// NFD of a <see cref="BertCharKind.Reorder"/> entry: a (rank, output or -1 if stripped) pair per element.
    /// </summary>
    public static ReadOnlySpan<int> ReorderElements(int entry)
    {
        var pool = ReorderTable;
        var at = ValueOf(entry);
        return pool.AsSpan(at + 1, 2 * pool[at]);
    }

    /// <summary>Checks the generated runs: sorted, disjoint, Hangul block whole. Used by tests.</summary>
    internal static bool RunsAreWellFormed()
    {
        var hangul = Search(HangulFirst);
        return SortedAndDisjoint(RunTable) && SortedAndDisjoint(NfdRunTable)
            && KindOf(hangul) == BertCharKind.Hangul && Search(HangulLast) == hangul
            && NfdRunTable[0] >= FirstDecomposable; // NfdRanks skips the search below
    }

    private static bool SortedAndDisjoint(ReadOnlySpan<int> runs)
    {
        var previousLast = -1;
        for (var i = 0; i < runs.Length; i += 3)
        {
            if (runs[i] <= previousLast || runs[i + 1] < runs[i] || runs[i + 1] > 0x10FFFF)
            {
                return false;
            }

            previousLast = runs[i + 1];
        }

        return true;
    }

    private static int Search(int codePoint) => Search(RunTable, codePoint);

    private static int Search(ReadOnlySpan<int> runs, int codePoint)
    {
        int lo = 0, hi = (runs.Length / 3) - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var at = mid * 3;
            if (codePoint < runs[at])
            {
                hi = mid - 1;
            }
            else if (codePoint > runs[at + 1])
            {
                lo = mid + 1;
            }
            else
            {
                return runs[at + 2];
            }
        }

        return 0; // not in any run (for Runs: a word character that normalizes to itself)
    }

    private static int[] BuildDirect()
    {
        var direct = new int[DirectCount];
        for (var cp = 0; cp < direct.Length; cp++)
        {
            direct[cp] = Search(cp);
        }

        return direct;
    }
}

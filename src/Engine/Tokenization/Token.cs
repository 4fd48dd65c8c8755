namespace StreamBert.Engine.Tokenization;

/// <summary>
/// One WordPiece token: its vocabulary id, the UTF-16 range <c>[Start, End)</c> of the original text it came
/// from, and the index of the pre-token ("word") it belongs to.
/// </summary>
/// <remarks>
/// Offsets always point into the text as given, even where normalization changed lengths (accents stripped,
/// control or zero-width characters removed, lowercase expansions): a piece spans from the start of the first
/// original character that produced it to the end of the last one. Pieces produced by a single original
/// character that expands into several (a Hangul syllable into jamo) share that character's range, as in the
/// Hugging Face reference.
/// </remarks>
/// <param name="Id">Vocabulary id.</param>
/// <param name="Start">First UTF-16 code unit of the source text (inclusive).</param>
/// <param name="End">UTF-16 code unit after the source text (exclusive).</param>
/// <param name="Word">
/// Index of the pre-token the piece belongs to; for pre-split input, the index of the input word.
/// </param>
public readonly record struct Token(int Id, int Start, int End, int Word);

using System.Collections.Frozen;

namespace StreamBert.Engine.Text;

/// <summary>
/// Splits news-style text (articles, claims, messages) into sentences: rule-based, no model, no allocation
/// beyond growth of the caller's list.
/// </summary>
/// <remarks>
/// <para>
/// Output: one <see cref="Range"/> per sentence, in order, with start-relative indices into the text
/// (<c>text[range]</c>), trimmed of surrounding whitespace. The ranges do not overlap and together cover every
/// non-whitespace character exactly once. Whitespace here is <see cref="char.IsWhiteSpace(char)"/> plus the
/// invisible U+200B, U+2060 and U+FEFF, so a byte-order mark or a zero-width space never makes a sentence.
/// </para>
/// <para>
/// Boundaries: every line break ends a sentence — feeds put headings, datelines and list items on lines of
/// their own, and a sentence never crosses a paragraph break. The trade-off: prose hard-wrapped at a fixed width
/// is split at its wraps, so unwrap such text first. Within a line, a sentence ends after <c>. ? !</c>, an
/// ellipsis or a run of them, plus closing quotes and brackets (<c>He said "no." Then…</c>), when whitespace
/// follows and the next word does not start in lowercase; CJK full stops end a sentence without a space.
/// A single period is not an end after: a title or Latin abbreviation (<c>Mr. Dr. e.g. i.e. vs.</c>); an
/// initial (<c>J. F. Kennedy</c>); <c>No. Vol. p.</c> before a number; a list number at the start of a line
/// (<c>1.</c>, <c>iv.</c>); and after an abbreviation that may also end a sentence (<c>Inc. Corp. Jr. etc.
/// U.S. U.K. a.m. Jan. Feb.</c>) only when the next word is a common sentence opener (<c>The, He, But, In</c> …),
/// so <c>The U.S. Senate</c> stays whole while <c>in the U.S. He said</c> splits. Decimals, amounts, URLs and
/// e-mail addresses have no whitespace after their periods and never split.
/// </para>
/// </remarks>
public static class SentenceSplitter
{
    private enum Abbreviation
    {
        None,
        NeverFinal,
        MaybeFinal,
        BeforeNumber,
        ListNumber,
    }

    // Titles and Latin abbreviations that are (almost) never the last word of a sentence.
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> NeverFinal = Lookup(
        "mr", "mrs", "ms", "messrs", "mme", "mlle", "dr", "prof", "rev", "fr", "sen", "rep", "gov", "gen", "col", "lt",
        "capt", "cmdr", "adm", "sgt", "cpl", "maj", "brig", "pres", "supt", "insp", "amb", "atty", "mt", "vs", "v",
        "viz", "cf", "approx", "ca", "incl", "esp", "e.g", "i.e");

    // Abbreviations that often do end a sentence: a boundary only before a common sentence opener. Months, days
    // and US states as news style abbreviates them, minus those that are also everyday words (May, Ill., Wash.,
    // Sun., and "la", frequent in SMS).
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> MaybeFinal = Lookup(
        "inc", "corp", "co", "ltd", "plc", "llc", "bros", "jr", "sr", "etc", "al", "st", "ft", "ave", "blvd", "rd",
        "dept", "univ", "assn", "govt", "jan", "feb", "aug", "sep", "sept", "oct", "nov", "dec", "tue", "tues", "thu",
        "thur", "thurs", "fri", "ala", "ariz", "calif", "colo", "conn", "fla", "ky", "md", "mich", "minn", "mont",
        "neb", "nev", "okla", "tenn", "tex", "va", "vt", "wis", "wyo");

    // Abbreviations that precede a number (No. 5, Vol. 2, p. 17); elsewhere ordinary words ("he said no.").
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> BeforeNumber = Lookup(
        "no", "nos", "vol", "vols", "p", "pp", "art", "fig", "figs", "sec", "ch", "para", "tel", "ex", "op", "nr");

    // Words that commonly open a sentence; after a MaybeFinal abbreviation or an initial they decide the split.
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> Openers = Lookup(
        "the", "a", "an", "this", "that", "these", "those", "it", "its", "he", "she", "they", "we", "i", "you", "his",
        "her", "their", "our", "my", "your", "there", "here", "but", "and", "or", "so", "yet", "nor", "in", "on", "at",
        "for", "as", "if", "when", "while", "after", "before", "since", "although", "though", "because", "however",
        "meanwhile", "moreover", "furthermore", "also", "still", "then", "now", "today", "yesterday", "tomorrow",
        "last", "next", "some", "many", "most", "other", "others", "such", "both", "all", "each", "every", "no", "not",
        "one", "what", "who", "why", "how", "where", "which", "with", "without", "by", "from", "to", "of", "under",
        "over", "during", "according", "despite", "instead", "mr", "mrs", "ms", "dr", "prof", "sen", "gov", "gen", "rep");

    /// <summary>
    /// Appends the sentence ranges of <paramref name="text"/> to <paramref name="output"/>, which is not cleared.
    /// </summary>
    public static void Split(ReadOnlySpan<char> text, List<Range> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var lineStart = 0;
        while (lineStart < text.Length)
        {
            var lineEnd = lineStart;
            while (lineEnd < text.Length && !IsLineBreak(text[lineEnd]))
            {
                lineEnd++;
            }

            SplitLine(text, lineStart, lineEnd, output);
            lineStart = lineEnd + 1; // "\r\n" leaves an empty line between its two characters: harmless
        }
    }

    private static void SplitLine(ReadOnlySpan<char> text, int lineStart, int lineEnd, List<Range> output)
    {
        var sentenceStart = lineStart;
        var i = lineStart;
        while (i < lineEnd)
        {
            if (!IsTerminator(text[i]))
            {
                i++;
                continue;
            }

            var runEnd = i;
            while (runEnd < lineEnd && IsTerminator(text[runEnd]))
            {
                runEnd++;
            }

            var closersEnd = runEnd;
            while (closersEnd < lineEnd && IsCloser(text[closersEnd]))
            {
                closersEnd++;
            }

            // Transcripts often space a closing quote off: `can't do that. " What` — a quote standing alone
            // between spaces closes this sentence rather than opening the next.
            var afterSpace = closersEnd;
            while (afterSpace < lineEnd && IsSpace(text[afterSpace]))
            {
                afterSpace++;
            }

            if (afterSpace > closersEnd && afterSpace < lineEnd && IsQuote(text[afterSpace])
                && (afterSpace + 1 == lineEnd || IsSpace(text[afterSpace + 1])))
            {
                closersEnd = afterSpace + 1;
            }

            if (EndsSentence(text, lineStart, lineEnd, i, runEnd, closersEnd))
            {
                Emit(text, sentenceStart, closersEnd, output);
                sentenceStart = closersEnd;
                i = closersEnd;
            }
            else
            {
                i = runEnd;
            }
        }

        Emit(text, sentenceStart, lineEnd, output);
    }

    private static bool EndsSentence(
        ReadOnlySpan<char> text, int lineStart, int lineEnd, int runStart, int runEnd, int closersEnd)
    {
        var next = closersEnd;
        while (next < lineEnd && IsSpace(text[next]))
        {
            next++;
        }

        if (next == lineEnd)
        {
            return true; // nothing but whitespace follows on this line
        }

        if (IsCjkTerminator(text[runEnd - 1]))
        {
            return true; // CJK writes no space between sentences
        }

        if (next == closersEnd)
        {
            return false; // 3.5, U.S.-led, example.com, "no."Then: no whitespace, no boundary
        }

        var isEllipsis = runEnd - runStart > 1 || text[runStart] == '…'
            || (text[runStart] == '.' && runStart > lineStart && IsSpace(text[runStart - 1]));
        if (isEllipsis && IsTerminator(text[next]))
        {
            return false; // a spaced ellipsis (". . ." or "... ..."): its last run decides
        }

        // The next word, past opening quotes and brackets.
        var wordStart = next;
        while (wordStart < lineEnd && IsOpener(text[wordStart]))
        {
            wordStart++;
        }

        var first = wordStart < lineEnd ? text[wordStart] : ' ';
        if (char.IsLower(first))
        {
            return false; // "Why?" he asked. / etc. and so on / Wait... what?
        }

        if (runEnd - runStart != 1 || text[runStart] != '.')
        {
            return true; // ? ! … or a mixed run, before a capital, digit or symbol
        }

        return Classify(text, lineStart, runStart) switch
        {
            Abbreviation.NeverFinal or Abbreviation.ListNumber => false,
            Abbreviation.MaybeFinal => StartsWithOpenerWord(text, wordStart, lineEnd),
            Abbreviation.BeforeNumber => !char.IsDigit(first),
            _ => true,
        };
    }

    // What the word before a single period is: the letters, digits and inner periods that end at the period.
    private static Abbreviation Classify(ReadOnlySpan<char> text, int lineStart, int period)
    {
        var start = period;
        while (start > lineStart
            && (char.IsLetterOrDigit(text[start - 1])
                || (text[start - 1] == '.' && start - 2 >= lineStart && char.IsLetterOrDigit(text[start - 2]))))
        {
            start--;
        }

        var word = text[start..period];
        if (word.IsEmpty)
        {
            return Abbreviation.None;
        }

        if (IsListNumber(word) && IsFirstOnLine(text, lineStart, start))
        {
            return Abbreviation.ListNumber;
        }

        if (NeverFinal.Contains(word))
        {
            return Abbreviation.NeverFinal;
        }

        if (BeforeNumber.Contains(word))
        {
            return Abbreviation.BeforeNumber;
        }

        // A single capital is an initial (J. F. Kennedy) and dotted short letter groups are abbreviations
        // (U.S., a.m., Ph.D.): both may still end a sentence ("vitamin C. The", "in the U.S. He").
        if (MaybeFinal.Contains(word) || (word.Length == 1 && char.IsUpper(word[0])) || IsDottedAbbreviation(word))
        {
            return Abbreviation.MaybeFinal;
        }

        return Abbreviation.None;
    }

    // U.S, e.g, a.m, Ph.D, U.S.A: letter groups of one or two separated by periods (not example.com, v1.2).
    private static bool IsDottedAbbreviation(ReadOnlySpan<char> word)
    {
        if (!word.Contains('.'))
        {
            return false;
        }

        foreach (var part in word.Split('.'))
        {
            var segment = word[part];
            if (segment.Length is 0 or > 2 || !IsAllLetters(segment))
            {
                return false;
            }
        }

        return true;
    }

    // "1." "12." "iv." "B." opening a line are list numbers, not sentences.
    private static bool IsListNumber(ReadOnlySpan<char> word) =>
        (word.Length <= 3 && IsAllDigits(word))
        || (word.Length <= 4 && word.TrimStart("ivxIVX").IsEmpty)
        || (word.Length == 1 && char.IsLetter(word[0]));

    // Backwards from the word, so a call costs the gap before its word rather than the line up to it: from the start of
    // the line, 100,000 "(" and then "A. A. …" took minutes to split (each period walked every bracket again).
    private static bool IsFirstOnLine(ReadOnlySpan<char> text, int lineStart, int start)
    {
        for (var k = start - 1; k >= lineStart; k--)
        {
            if (!IsSpace(text[k]) && !IsOpener(text[k]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool StartsWithOpenerWord(ReadOnlySpan<char> text, int wordStart, int lineEnd)
    {
        var end = wordStart;
        while (end < lineEnd && char.IsLetter(text[end]))
        {
            end++;
        }

        return end > wordStart && char.IsUpper(text[wordStart]) && Openers.Contains(text[wordStart..end]);
    }

    private static void Emit(ReadOnlySpan<char> text, int start, int end, List<Range> output)
    {
        while (start < end && IsSpace(text[start]))
        {
            start++;
        }

        while (end > start && IsSpace(text[end - 1]))
        {
            end--;
        }

        if (end > start)
        {
            output.Add(new Range(start, end));
        }
    }

    private static bool IsAllLetters(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (!char.IsLetter(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAllDigits(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is '\u200B' or '\u2060' or '\uFEFF';

    private static bool IsLineBreak(char c) => c is '\n' or '\r' or '\v' or '\f' or '\u0085' or '\u2028' or '\u2029';

    private static bool IsTerminator(char c) =>
        c is '.' or '?' or '!' or '…' or '‼' or '⁇' or '⁈' or '⁉' || IsCjkTerminator(c);

    private static bool IsCjkTerminator(char c) => c is '。' or '！' or '？' or '｡';

    private static bool IsCloser(char c) =>
        c is '"' or '\'' or ')' or ']' or '}' or '”' or '’' or '»' or '›' or '）' or '」' or '』' or '】';

    private static bool IsQuote(char c) => c is '"' or '”' or '\'' or '’';

    private static bool IsOpener(char c) =>
        c is '"' or '\'' or '(' or '[' or '{' or '“' or '‘' or '«' or '‹' or '（' or '「' or '『' or '【';

    private static FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> Lookup(params string[] words) =>
        words.ToFrozenSet(StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();
}

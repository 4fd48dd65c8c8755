using System.Text.Encodings.Web;
using System.Text.Json;

namespace StreamBert.Processor.Postprocess;

/// <summary>
/// The one set of serializer options every output record is written with: text as UTF-8, escaped only where JSON
/// requires it. The default encoder writes every non-ASCII character as <c>\uXXXX</c> (a Greek or Hindi sentence
/// triples, an emoji takes 12 bytes for 4), and even <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/> still
/// escapes every character outside the Basic Multilingual Plane; both make outputs of ordinary text approach the
/// producer's message.max.bytes. "Unsafe" names the HTML-embedding risk (&lt;, &gt;, &amp; stay as they are), which does
/// not apply to records on a Kafka topic.
/// </summary>
public static class OutputJson
{
    public static readonly JsonSerializerOptions Options = new() { Encoder = JsonOnlyEncoder.Instance };
}

/// <summary>
/// Escapes what RFC 8259 requires and nothing else: quotation mark, reverse solidus, U+0000–U+001F; plus unpaired
/// surrogates, which have no UTF-8 form (the writer replaces them with an escaped U+FFFD), so the JSON stays valid
/// whatever string it is given.
/// </summary>
public sealed class JsonOnlyEncoder : JavaScriptEncoder
{
    public static readonly JsonOnlyEncoder Instance = new();

    private JsonOnlyEncoder()
    {
    }

    // "\uXXXX\uXXXX" for a scalar outside the BMP, the longest thing TryEncodeUnicodeScalar writes.
    public override int MaxOutputCharactersPerInputCharacter => 12;

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        var span = new ReadOnlySpan<char>(text, textLength);
        for (var i = 0; i < span.Length; i++)
        {
            var c = span[i];
            if (c < 0x20 || c is '"' or '\\')
            {
                return i;
            }

            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
                {
                    i++;
                    continue;
                }

                return i;
            }
        }

        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        var destination = new Span<char>(buffer, bufferLength);
        numberOfCharactersWritten = 0;
        string? shortForm = unicodeScalar switch
        {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\b' => "\\b",
            '\f' => "\\f",
            _ => null,
        };
        if (shortForm is not null)
        {
            if (!shortForm.AsSpan().TryCopyTo(destination))
            {
                return false;
            }

            numberOfCharactersWritten = shortForm.Length;
            return true;
        }

        Span<char> units = stackalloc char[2];
        var count = new System.Text.Rune(unicodeScalar is >= 0xD800 and <= 0xDFFF ? 0xFFFD : unicodeScalar).EncodeToUtf16(units);
        if (bufferLength < 6 * count)
        {
            return false;
        }

        for (var u = 0; u < count; u++)
        {
            ((int)units[u]).TryFormat(destination[((6 * u) + 2)..((6 * u) + 6)], out _, "x4", System.Globalization.CultureInfo.InvariantCulture);
            destination[6 * u] = '\\';
            destination[(6 * u) + 1] = 'u';
        }

        numberOfCharactersWritten = 6 * count;
        return true;
    }

    public override bool WillEncode(int unicodeScalar) =>
        unicodeScalar < 0x20 || unicodeScalar is '"' or '\\' || unicodeScalar is >= 0xD800 and <= 0xDFFF;
}

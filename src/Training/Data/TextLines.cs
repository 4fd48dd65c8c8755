using System.Text;

namespace StreamBert.Training.Data;

/// <summary>Line splitting shared by the readers.</summary>
internal static class TextLines
{
    /// <summary>
    /// Splits on LF only and drops one CR before it. Unlike <see cref="TextReader.ReadLine"/>, a lone CR
    /// inside a text stays part of the line instead of silently cutting the record in two. A leading
    /// byte-order mark is removed.
    /// </summary>
    public static IEnumerable<string> Read(TextReader reader)
    {
        var buffer = new char[16 * 1024];
        var pending = new StringBuilder();
        bool first = true;
        int read;
        while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            int start = 0;
            while (start < read)
            {
                int newline = Array.IndexOf(buffer, '\n', start, read - start);
                if (newline < 0)
                {
                    pending.Append(buffer, start, read - start);
                    break;
                }

                pending.Append(buffer, start, newline - start);
                start = newline + 1;
                yield return Finish(pending, ref first);
            }
        }

        if (pending.Length > 0)
        {
            yield return Finish(pending, ref first);
        }
    }

    /// <summary>Opens a UTF-8 file (BOM-detected; invalid bytes become U+FFFD rather than failing the read).</summary>
    public static StreamReader Open(string path) =>
        new(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true,
            new FileStreamOptions { Access = FileAccess.Read, Share = FileShare.Read, BufferSize = 64 * 1024 });

    private static string Finish(StringBuilder pending, ref bool first)
    {
        int length = pending.Length;
        if (length > 0 && pending[length - 1] == '\r')
        {
            length--;
        }

        int offset = 0;
        if (first)
        {
            first = false;
            if (length > 0 && pending[0] == '\uFEFF')
            {
                offset = 1;
            }
        }

        string line = pending.ToString(offset, length - offset);
        pending.Clear();
        return line;
    }

    /// <summary>True for an empty or all-whitespace line.</summary>
    public static bool IsBlank(string line) => string.IsNullOrWhiteSpace(line);

    /// <summary>True if the first non-whitespace character is '{' (a JSON object per line).</summary>
    public static bool LooksLikeJsonObject(string line) => line.AsSpan().TrimStart().StartsWith("{", StringComparison.Ordinal);
}

using System.Text.Json;

namespace StreamBert.Training.Data;

/// <summary>Parses one JSON Lines record with string <c>text</c> and <c>label</c> properties.</summary>
internal static class JsonLines
{
    /// <summary>Returns null and sets <paramref name="error"/> when the line is not such an object; other properties are ignored.</summary>
    public static (string Text, string Label)? TryParse(string line, out string error)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = $"JSON value is {root.ValueKind}, not an object";
                return null;
            }

            if (!root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
            {
                error = "no string property \"text\"";
                return null;
            }

            if (!root.TryGetProperty("label", out var label) || label.ValueKind != JsonValueKind.String)
            {
                error = "no string property \"label\"";
                return null;
            }

            error = "";
            return (text.GetString()!, label.GetString()!);
        }
        catch (JsonException ex)
        {
            error = "invalid JSON: " + ex.Message;
            return null;
        }
    }
}

using System.Text.Json.Serialization;

namespace StreamBert.Service.Diagnostics;

/// <summary>The body of <c>/readyz</c>: <c>ready</c> with the served versions, or <c>unready</c> with why.</summary>
public sealed record ReadinessReport(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("reasons")] IReadOnlyList<string> Reasons,
    [property: JsonPropertyName("models")] IReadOnlyDictionary<string, string> Models)
{
    [JsonIgnore] public bool Ready => Reasons.Count == 0;
}

/// <summary>What <c>/readyz</c> asks a host (processor or trainer).</summary>
public interface IReadinessProbe
{
    ReadinessReport Readiness();
}

[JsonSerializable(typeof(ReadinessReport))]
internal sealed partial class DiagnosticsJson : JsonSerializerContext;

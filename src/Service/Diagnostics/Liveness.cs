namespace StreamBert.Service.Diagnostics;

/// <summary>The answer of <c>/healthz</c>: alive, or stalled with why.</summary>
public sealed record LivenessReport(bool Alive, string Reason);

/// <summary>What <c>/healthz</c> asks a host.</summary>
public interface ILivenessProbe
{
    LivenessReport Liveness();
}

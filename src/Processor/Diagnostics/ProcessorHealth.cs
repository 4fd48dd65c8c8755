using StreamBert.Contracts;
using StreamBert.Service.Diagnostics;

namespace StreamBert.Processor.Diagnostics;

/// <summary>
/// Readiness of a processor: its models are loaded and a broker answered a metadata probe within
/// <c>brokerContactTimeout</c>. Liveness is not decided here: a process that can answer HTTP is alive,
/// and restarting one because Kafka is away would only add a rebalance to the outage.
/// </summary>
public sealed class ProcessorHealth : IReadinessProbe
{
    private readonly IngestStatus _ingest;
    private readonly Func<IReadOnlyDictionary<string, BundleManifest>?> _servedBundles;
    private readonly TimeSpan _brokerContactTimeout;
    private readonly TimeProvider _time;

    public ProcessorHealth(IngestStatus ingest, Func<IReadOnlyDictionary<string, BundleManifest>?> servedBundles, TimeSpan brokerContactTimeout, TimeProvider? time = null)
    {
        _ingest = ingest;
        _servedBundles = servedBundles;
        _brokerContactTimeout = brokerContactTimeout;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Why the models-topic follower is not running (null while it runs): a processor whose follower died would serve
    /// its version for ever, so it is not ready. Set by the host from <c>ModelUpdater.FollowerProblem</c>.
    /// </summary>
    public Func<string?>? ModelFollower { get; init; }

    public ReadinessReport Readiness()
    {
        var reasons = new List<string>(2);
        var models = new Dictionary<string, string>(StringComparer.Ordinal);
        if (_servedBundles() is { Count: > 0 } bundles)
        {
            foreach (var (name, manifest) in bundles)
            {
                models[name] = manifest.Version;
            }
        }
        else
        {
            reasons.Add("models not loaded");
        }

        var broker = _ingest.Broker;
        var since = broker.LastContact is { } last ? _time.GetUtcNow() - last : (TimeSpan?)null;
        if (!broker.Reachable)
        {
            var contact = since is { } s ? $"last contact {s.TotalSeconds:F0} s ago" : "never reached";
            reasons.Add(broker.LastError is null ? $"broker not probed yet ({contact})" : $"broker unreachable: {broker.LastError} ({contact})");
        }
        else if (since > _brokerContactTimeout)
        {
            // Probes stopped succeeding without reporting a failure: the ingest stage is stopping or stuck.
            reasons.Add($"no broker contact for {since.Value.TotalSeconds:F0} s");
        }

        if (ModelFollower?.Invoke() is { } follower)
        {
            reasons.Add(follower);
        }

        return new ReadinessReport(reasons.Count == 0 ? "ready" : "unready", reasons, models);
    }
}

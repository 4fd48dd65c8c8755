namespace StreamBert.Processor.Hosting;

/// <summary>The exception <see cref="ChaosFault"/> throws: recognisable in logs as deliberate.</summary>
public sealed class InjectedFaultException(string message) : Exception(message);

/// <summary>
/// Applies <see cref="ChaosOptions"/>: the configured stage calls <see cref="Tick"/> per item and throws once it has
/// handled <see cref="ChaosOptions.FaultAfter"/> items. Off (no stage) costs one string comparison per item.
/// </summary>
public sealed class ChaosFault
{
    public const string Engine = "engine";
    public const string Postprocess = "postprocess";
    public const string Egress = "egress";

    private readonly string _stage;
    private readonly int _after;
    private int _count;

    public ChaosFault(ChaosOptions options)
    {
        // Validated here: data annotations do not reach into nested option objects.
        if (options.FaultStage is not ("" or Engine or Postprocess or Egress))
        {
            throw new ArgumentException($"Processor:Chaos:FaultStage '{options.FaultStage}' is not one of engine, postprocess, egress (or empty).", nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(options.FaultAfter);
        _stage = options.FaultStage;
        _after = options.FaultAfter;
    }

    public bool Enabled => _stage.Length > 0;

    public void Tick(string stage)
    {
        if (_stage.Length > 0 && string.Equals(stage, _stage, StringComparison.Ordinal) && Interlocked.Increment(ref _count) > _after)
        {
            throw new InjectedFaultException($"Injected fault in {stage} after {_after} items (Processor:Chaos)");
        }
    }
}

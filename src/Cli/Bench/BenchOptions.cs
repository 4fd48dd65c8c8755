namespace StreamBert.Cli.Bench;

/// <summary>Options of <c>streambert bench</c>.</summary>
/// <param name="Registry">Model registry; the spam bundle is trained into it when missing.</param>
/// <param name="Messages">Messages per measurement (engine conditions and the Kafka→Kafka drain).</param>
/// <param name="Runs">Repetitions; every reported figure is the median over runs.</param>
/// <param name="JsonPath">Where to write the results as JSON, if anywhere.</param>
/// <param name="LatencySeconds">How long the half-load latency feed runs per run.</param>
/// <param name="ProcessorSettings">
/// Extra configuration for the in-process processor (<c>Processor:MaxBatchDelay=00:00:00.002</c>,
/// <c>Kafka:Producer:linger.ms=0</c>): lets a tuning hypothesis be measured without editing the processor.
/// </param>
/// <param name="ComparePrecision">Measure only the Kafka→Kafka drain with the fp32 and the int8 encoder, side by side.</param>
/// <param name="Engine"><c>onnx</c> (the model) or <c>null</c>: only the Kafka→Kafka drain, with <c>Processor:Engine=null</c>.</param>
/// <param name="CompareHeads">Measure only the engine, heads in the encoder's graph vs the C# heads, side by side.</param>
internal sealed record BenchOptions(
    string Registry,
    int Messages,
    int Runs,
    string? JsonPath,
    double LatencySeconds,
    IReadOnlyDictionary<string, string?> ProcessorSettings,
    bool ComparePrecision = false,
    string Engine = "onnx",
    bool CompareHeads = false);

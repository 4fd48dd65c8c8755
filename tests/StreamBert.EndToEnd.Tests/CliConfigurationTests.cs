using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StreamBert.Cli.Commands;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Hosting;
using StreamBert.Trainer;

namespace StreamBert.EndToEnd.Tests;

/// <summary>Tests that set <c>STREAMBERT__</c> environment variables: they run alone, after every parallel test.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "process environment";
}

/// <summary>
/// The command line against configuration: a flag overrides <c>appsettings.json</c>/<c>STREAMBERT__</c> only when it
/// is given; a bad value ends any command with one line and exit code 2; <c>models promote</c>'s producer takes the
/// <c>Kafka:Producer</c> security settings. Commands run in-process through the real command tree.
/// </summary>
[Collection(EnvironmentCollection.Name)]
public sealed class CliConfigurationTests : IClassFixture<EmbeddedKafkaFixture>, IDisposable
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly List<string> _variables = [];
    private readonly string _temp = Path.Combine(Path.GetTempPath(), "streambert-cli-" + Guid.NewGuid().ToString("N"));

    public CliConfigurationTests(EmbeddedKafkaFixture kafka)
    {
        _kafka = kafka;
        Directory.CreateDirectory(_temp);
    }

    public void Dispose()
    {
        foreach (var variable in _variables)
        {
            Environment.SetEnvironmentVariable(variable, null);
        }

        Directory.Delete(_temp, recursive: true);
    }

    [Fact]
    public void Processor_FlagsNotGiven_EnvironmentVariablesWin()
    {
        Set("STREAMBERT__Processor__BootstrapServers", "env-broker:9092");
        Set("STREAMBERT__Processor__Registry", "/env/registry");
        Set("STREAMBERT__Processor__GroupId", "env-group");
        Set("STREAMBERT__Processor__NerBundle", "env-ner");

        var parsed = StreamBertCli.Create().Parse(["processor"]);

        Assert.Empty(parsed.Errors); // --bootstrap is configured, so not required
        var options = ProcessorOptionsOf(parsed);
        Assert.Equal(("env-broker:9092", "/env/registry", "env-group", "env-ner"), (options.BootstrapServers, options.Registry, options.GroupId, options.NerBundle));
    }

    [Fact]
    public void Processor_FlagsGiven_BeatEnvironmentVariables()
    {
        Set("STREAMBERT__Processor__BootstrapServers", "env-broker:9092");
        Set("STREAMBERT__Processor__Registry", "/env/registry");
        Set("STREAMBERT__Processor__GroupId", "env-group");
        Set("STREAMBERT__Processor__NerBundle", "env-ner");

        var parsed = StreamBertCli.Create().Parse(["processor", "--bootstrap", "flag-broker:9092", "--registry", "/flag/registry", "--group", "flag-group", "--ner-bundle", "flag-ner"]);

        Assert.Empty(parsed.Errors);
        var options = ProcessorOptionsOf(parsed);
        Assert.Equal(("flag-broker:9092", "/flag/registry", "flag-group", "flag-ner"), (options.BootstrapServers, options.Registry, options.GroupId, options.NerBundle));
    }

    [Fact]
    public void Trainer_FlagsNotGivenOrGiven_EnvironmentVariablesWinOnlyOverDefaults()
    {
        Set("STREAMBERT__Trainer__BootstrapServers", "env-broker:9092");
        Set("STREAMBERT__Trainer__Registry", "/env/registry");
        Set("STREAMBERT__Trainer__GroupId", "env-group");
        Set("STREAMBERT__Trainer__MinNewLabels", "42");

        var configured = TrainerOptionsOf(StreamBertCli.Create().Parse(["trainer"]));
        var given = TrainerOptionsOf(StreamBertCli.Create().Parse(["trainer", "--group", "flag-group", "--min-labels", "7"]));

        Assert.Equal(("env-broker:9092", "/env/registry", "env-group", 42), (configured.BootstrapServers, configured.Registry, configured.GroupId, configured.MinNewLabels));
        Assert.Equal(("env-broker:9092", "/env/registry", "flag-group", 7), (given.BootstrapServers, given.Registry, given.GroupId, given.MinNewLabels));
    }

    [Fact]
    public void Processor_NothingConfigured_CommandDefaultsApply()
    {
        var options = ProcessorOptionsOf(StreamBertCli.Create().Parse(["processor", "--bootstrap", "b:9092"]));
        Assert.Equal((ModelRegistry.DefaultRoot, "streambert-processor", (string?)null), (options.Registry, options.GroupId, options.NerBundle));
    }

    [Theory]
    [InlineData("processor", "", "", "bootstrap")]
    [InlineData("trainer", "", "", "bootstrap")]
    [InlineData("trainer --bootstrap b:1 --min-labels abc", "", "", "abc")]
    [InlineData("trainer --bootstrap b:1 --min-labels 0", "", "", "MinNewLabels")]
    [InlineData("trainer --bootstrap b:1 --max-wait-minutes 1e300", "", "", "--max-wait-minutes")]
    [InlineData("trainer --bootstrap b:1 --base sentiment=data.tsv", "", "", "TASK")]
    [InlineData("trainer --bootstrap b:1", "STREAMBERT__Trainer__MaxWait", "soon", "Trainer:MaxWait")]
    [InlineData("processor --bootstrap b:1", "STREAMBERT__Processor__MaxBatchTokens", "many", "Processor:MaxBatchTokens")]
    [InlineData("processor --bootstrap b:1", "STREAMBERT__Processor__MaxBatchTokens", "8", "MaxBatchTokens")]
    [InlineData("processor --bootstrap b:1", "STREAMBERT__Processor__MaxBatchDelay", "00:05:00", "MaxBatchDelay")]
    [InlineData("train --task spam --data {sms} --layers 6,x", "", "", "--layers")]
    [InlineData("train --task spam --data {temp}/missing.tsv", "", "", "missing.tsv")]
    [InlineData("train --task sentiment --data {sms}", "", "", "sentiment")]
    [InlineData("train --task articles --mode full --data {sms}", "", "", "--ner-data")]
    [InlineData("train --task articles --data {sms} --ner-data {sms}", "", "", "--mode full")]
    [InlineData("train --task claims --data {sms} --ner-data {sms}", "", "", "--task articles")]
    [InlineData("train --task articles --mode full --data {sms} --ner-data {temp}/missing.txt", "", "", "missing.txt")]
    [InlineData("eval --task spam --data {sms} --registry {temp}", "", "", "no current version")]
    [InlineData("models promote spam v7 --registry {temp}", "", "", "v7")]
    [InlineData("bench --messages 5", "", "", "--messages")]
    [InlineData("demo --rate -1", "", "", "--rate")]
    [InlineData("broker --brokers 0", "", "", "--brokers")]
    public async Task Command_BadValue_OneLineOnStderrExitCode2(string commandLine, string variable, string value, string mentioned)
    {
        if (variable.Length > 0)
        {
            Set(variable, value);
        }

        var args = commandLine.Replace("{sms}", RepoData.SmsSpamCollection, StringComparison.Ordinal).Replace("{temp}", _temp, StringComparison.Ordinal)
            .Split(' ', StringSplitOptions.RemoveEmptyEntries);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        // A value that slipped through would start the command for real: the timeout turns that into a failure, not a hang.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        // Hosts log to stdout: a host that failed to start would log the exception there (the test collection runs alone).
        var stdout = Console.Out;
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        Console.SetOut(output);
        int code;
        try
        {
            code = await StreamBertCli.InvokeAsync(args, error, timeout.Token);
        }
        finally
        {
            Console.SetOut(stdout);
        }

        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(code == 2, $"exit code {code}, stderr: {error}");
        Assert.DoesNotContain("Exception", output.ToString(), StringComparison.Ordinal);
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains(mentioned, line, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelsProducer_KafkaProducerSection_CarriesSecuritySettings()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Processor:BootstrapServers"] = "configured:9093",
            ["Kafka:Producer:security.protocol"] = "SASL_SSL",
            ["Kafka:Producer:sasl.mechanism"] = "SCRAM-SHA-512",
            ["Kafka:Producer:sasl.username"] = "streambert",
            ["Kafka:Producer:sasl.password"] = "secret",
            ["Kafka:Producer:ssl.ca.location"] = "/etc/kafka/ca.pem",
        }).Build();

        var config = ModelsCommand.ProducerConfig(bootstrap: null, configuration)!.ToDictionary(p => p.Key, p => p.Value);

        Assert.Equal("configured:9093", config["bootstrap.servers"]);
        Assert.Equal("SASL_SSL", config["security.protocol"]);
        Assert.Equal("SCRAM-SHA-512", config["sasl.mechanism"]);
        Assert.Equal(("streambert", "secret", "/etc/kafka/ca.pem"), (config["sasl.username"], config["sasl.password"], config["ssl.ca.location"]));
        Assert.Equal("flag:9092", ModelsCommand.ProducerConfig("flag:9092", configuration)!.BootstrapServers);
        Assert.Null(ModelsCommand.ProducerConfig(null, new ConfigurationBuilder().Build()));
    }

    [Fact]
    public async Task ModelsPromote_ProducerSecuritySettingConfigured_ReachesTheClient()
    {
        var topic = _kafka.NewTopic("models", 1);
        var registry = new ModelRegistry(Path.Combine(_temp, "registry"));
        PublishFakeVersion(registry);
        PublishFakeVersion(registry);
        string[] promote = ["models", "promote", "spam", "v1", "--registry", registry.Root, "--bootstrap", _kafka.BootstrapServers, "--topic", topic];

        // The embedded broker speaks plaintext: a producer that takes security.protocol=SSL from the configuration
        // cannot publish there, one that ignores it can.
        Set("STREAMBERT__Kafka__Producer__security.protocol", "SSL");
        Set("STREAMBERT__Kafka__Producer__message.timeout.ms", "3000");
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        var secured = await StreamBertCli.InvokeAsync(promote, error);
        Assert.NotEqual(0, secured);

        Environment.SetEnvironmentVariable("STREAMBERT__Kafka__Producer__security.protocol", null);
        Assert.Equal(0, await StreamBertCli.InvokeAsync(promote, error));
        var events = PipelineHarness.ReadAll(_kafka.BootstrapServers, topic, r => r.Count >= 1, TimeSpan.FromSeconds(30));
        Assert.Equal(("spam", "v1", "promote"), Assert.Single(events) is var e ? (ModelEvents.Parse(e.Message.Value).Name, ModelEvents.Parse(e.Message.Value).Version, ModelEvents.Parse(e.Message.Value).Reason) : default);
    }

    private static ProcessorOptions ProcessorOptionsOf(System.CommandLine.ParseResult parsed)
    {
        using var host = ProcessorCommand.BuildHost(parsed);
        return host.Services.GetRequiredService<IOptions<ProcessorOptions>>().Value;
    }

    private static TrainerOptions TrainerOptionsOf(System.CommandLine.ParseResult parsed)
    {
        Assert.Empty(parsed.Errors);
        using var host = TrainerCommand.BuildHost(parsed);
        return host.Services.GetRequiredService<IOptions<TrainerOptions>>().Value;
    }

    private void Set(string variable, string value)
    {
        _variables.Add(variable);
        Environment.SetEnvironmentVariable(variable, value);
    }

    private static void PublishFakeVersion(ModelRegistry registry) =>
        registry.Publish("spam", dir => File.WriteAllText(Path.Combine(dir, "head.bin"), "head"), (version, files) => new BundleManifest
        {
            Name = "spam",
            Version = version,
            CreatedAt = DateTimeOffset.UtcNow,
            Encoder = new EncoderRef { Base = "test", Sha256 = "0" },
            Heads = new Dictionary<string, HeadSpec> { [TaskNames.Spam] = new() { Kind = "sequence", Labels = LabelSets.SpamLabels, Layers = [6], File = "head.bin" } },
            Files = files,
        });
}

using System.Diagnostics.CodeAnalysis;
using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StreamBert.Processor.Hosting;
using StreamBert.Service.Hosting;

namespace StreamBert.Cli.Commands;

/// <summary>
/// The <c>streambert</c> command tree and how it ends. A bad value — one the parser refuses, a validator's, a
/// configuration value that does not convert or fails an options class's validation, a <c>TASK=</c> the command does
/// not know — ends the command with one line on stderr (<c>error: …</c>) and exit code 2, whatever the command; any
/// other failure prints the exception and exits 1.
/// </summary>
public static class StreamBertCli
{
    /// <summary>Exit code of a bad value on the command line or in the configuration.</summary>
    public const int UsageExitCode = 2;

    public static RootCommand Create()
    {
        var root = new RootCommand("StreamBert: BERT labels for Kafka streams of emails and news articles, with continuous retraining.");
        root.Subcommands.Add(BrokerCommand.Create());
        root.Subcommands.Add(ProcessorCommand.Create());
        root.Subcommands.Add(TrainerCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(BenchCommand.CreateArticles());
        root.Subcommands.Add(BenchCommand.CreateSwap());
        root.Subcommands.Add(BenchCommand.CreateCeiling());
        root.Subcommands.Add(OverloadCommand.Create());
        root.Subcommands.Add(ScenarioCommand.Create());
        root.Subcommands.Add(ScenarioCommand.CreateGroup());
        root.Subcommands.Add(ReviewCommand.Create());
        return root;
    }

    /// <summary>Parses <paramref name="args"/> and runs the command; <paramref name="error"/> defaults to stderr.</summary>
    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "The process boundary: whatever a command throws becomes one message on stderr and exit code 1, not an unhandled-exception crash dump.")]
    public static async Task<int> InvokeAsync(string[] args, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        error ??= Console.Error;
        var parsed = Create().Parse(args);
        if (parsed.Errors.Count > 0)
        {
            await error.WriteLineAsync(OneLine("error: " + string.Join(" ", parsed.Errors.Select(e => e.Message)) + " (--help lists the options)")).ConfigureAwait(false);
            return UsageExitCode;
        }

        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Error = error }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (BadValue(ex) is { } message)
        {
            await error.WriteLineAsync(OneLine("error: " + message)).ConfigureAwait(false);
            return UsageExitCode;
        }
        catch (OperationCanceledException)
        {
            return 1;
        }
        catch (Exception ex)
        {
            await error.WriteLineAsync("Unhandled exception: " + ex).ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary>What was wrong with a value, when <paramref name="exception"/> says a value was bad; null for any other failure.</summary>
    internal static string? BadValue(Exception exception) => exception switch
    {
        UsageException usage => usage.Message,
        OptionsValidationException validation => "invalid configuration: " + validation.Message,
        // The configuration binder has no exception type of its own: a value that does not convert to its
        // property's type ("Failed to convert configuration value 'x' at 'Trainer:MaxWait' to type 'System.TimeSpan'").
        InvalidOperationException { TargetSite.DeclaringType: { } type } when type == typeof(ConfigurationBinder) => "invalid configuration: " + exception.Message,
        AggregateException aggregate when aggregate.InnerExceptions.Count > 0 && aggregate.InnerExceptions.All(e => BadValue(e) is not null) =>
            string.Join("; ", aggregate.InnerExceptions.Select(e => BadValue(e))),
        _ => null,
    };

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}

/// <summary>A value given on the command line (or configured) that the command cannot use; the message says which and why.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// What the command line falls back to for a flag that was not given. Precedence, highest first: a flag given on the
/// command line; <c>STREAMBERT__</c> environment variables; <c>appsettings.json</c>; the command's own default. A flag
/// that was not given therefore never overrides configuration: its default is read from the key its description names.
/// </summary>
internal static class Configured
{
    public static IConfiguration Load() =>
        ServiceHost.AddConfigurationSources(new ConfigurationBuilder().SetBasePath(AppContext.BaseDirectory)).Build();

    /// <summary>The configured value of <paramref name="key"/>, or null when neither source sets it (blank counts as set).</summary>
    public static string? Value(string key) => Load()[key];

    /// <summary>Adds <paramref name="value"/> under <paramref name="key"/> only when it was given, so configuration keeps it otherwise.</summary>
    public static void SetIfGiven(Dictionary<string, string?> settings, string key, string? value)
    {
        if (value is not null)
        {
            settings[key] = value;
        }
    }

    /// <summary>Adds <paramref name="value"/> under <paramref name="key"/> only when it was given.</summary>
    public static void SetIfGiven<T>(Dictionary<string, string?> settings, string key, T? value)
        where T : struct, IFormattable
    {
        if (value is { } v)
        {
            settings[key] = v.ToString(null, CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// Kafka bootstrap servers must come from somewhere: the flag, <c>{section}:BootstrapServers</c>, or the
    /// <c>bootstrap.servers</c> of both Kafka client sections. The options class's <c>localhost:9092</c> is a default
    /// for development, not a value to start a service against silently.
    /// </summary>
    public static void RequireBootstrap(string? flag, string section)
    {
        if (flag is not null)
        {
            if (string.IsNullOrWhiteSpace(flag))
            {
                throw new UsageException("--bootstrap is empty.");
            }

            return;
        }

        var configuration = Load();
        if (!string.IsNullOrWhiteSpace(configuration[$"{section}:BootstrapServers"])
            || (!string.IsNullOrWhiteSpace(configuration["Kafka:Consumer:bootstrap.servers"]) && !string.IsNullOrWhiteSpace(configuration["Kafka:Producer:bootstrap.servers"])))
        {
            return;
        }

        throw new UsageException($"no Kafka bootstrap servers: pass --bootstrap HOST:PORT or set {section}:BootstrapServers (environment: STREAMBERT__{section}__BootstrapServers).");
    }
}

internal static class HostConfiguration
{
    /// <summary>
    /// Binds and validates the host's options now, before it starts: a bad value then ends the command with one line
    /// (<see cref="StreamBertCli.BadValue"/>) instead of the host's start-failure log with a stack trace.
    /// </summary>
    public static void ValidateConfiguration(this IHost host) => host.Services.GetService<IStartupValidator>()?.Validate();
}

using System.CommandLine;
using StreamBert.Cli.Demo;

namespace StreamBert.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create()
    {
        var duration = new Option<int?>("--duration") { Description = "Stop after this many seconds and print a summary (default: run until Ctrl-C)" };
        var registry = new Option<string?>("--registry")
        {
            Description = $"Model registry to use as it is (default: {DemoModels.DefaultRegistry}, reset on every start so the weak spam model is v1)",
        };
        var rate = new Option<double>("--rate") { Description = "Messages per second the feeder sends (articles at a twentieth of it)", DefaultValueFactory = _ => 25 };
        var emailShare = new Option<double>("--email-share") { Description = "Share of messages sent as raw RFC 822 emails instead of JSON", DefaultValueFactory = _ => 0.3 };
        var reviewFraction = new Option<double>("--review-fraction")
        {
            Description = "Share of fed messages the simulated reviewers label on labels.spam (ground truth), least sure first from the desk's queue, 3 s or more after each was fed",
            DefaultValueFactory = _ => 0.15,
        };
        var retrainEvery = new Option<int>("--retrain-every") { Description = "The trainer retrains after this many new labels…", DefaultValueFactory = _ => 300 };
        var retrainWait = new Option<int>("--retrain-wait") { Description = "…or this many seconds after the first label not yet trained on", DefaultValueFactory = _ => 180 };
        var reviewPort = new Option<int>("--review-port") { Description = "Port of the reviewer's desk on 127.0.0.1 (default 0: a free port; the URL is printed at start and in the summary)" };
        var plain = new Option<bool>("--plain") { Description = "Print periodic status lines instead of the live dashboard (the default when output is redirected)" };
        var command = new Command("demo", "The full loop in one process: embedded Kafka, processor, feeders, simulated reviewers, trainer and hot swap, with a live dashboard")
        {
            duration, registry, rate, emailShare, reviewFraction, retrainEvery, retrainWait, plain, reviewPort,
        };
        command.SetAction(async (result, ct) =>
        {
            var options = new DemoOptions
            {
                Duration = result.GetValue(duration) is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                Registry = result.GetValue(registry),
                Rate = result.GetValue(rate),
                EmailShare = result.GetValue(emailShare),
                ReviewFraction = result.GetValue(reviewFraction),
                RetrainEvery = result.GetValue(retrainEvery),
                RetrainWait = TimeSpan.FromSeconds(result.GetValue(retrainWait)),
                Plain = result.GetValue(plain),
                ReviewPort = result.GetValue(reviewPort),
            };
            if (Problem(options) is { } problem)
            {
                throw new UsageException(problem);
            }

            return await DemoRunner.RunAsync(options, Console.Out, ct);
        });
        return command;
    }

    private static string? Problem(DemoOptions options) =>
        options.Rate <= 0 ? "--rate must be positive."
        : options.ReviewFraction is < 0 or > 1 || options.EmailShare is < 0 or > 1 ? "--review-fraction and --email-share must lie between 0 and 1."
        : options.RetrainEvery < 1 || options.RetrainWait < TimeSpan.FromSeconds(1) ? "--retrain-every and --retrain-wait must be at least 1."
        : options.Duration is { } duration && duration <= TimeSpan.Zero ? "--duration must be positive."
        : options.ReviewPort is < 0 or > 65535 ? "--review-port must lie between 0 and 65535."
        : null;
}

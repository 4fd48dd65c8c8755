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
            Description = "Share of fed messages a simulated reviewer labels on labels.spam a few seconds later (ground truth)",
            DefaultValueFactory = _ => 0.15,
        };
        var retrainEvery = new Option<int>("--retrain-every") { Description = "The trainer retrains after this many new labels…", DefaultValueFactory = _ => 300 };
        var retrainWait = new Option<int>("--retrain-wait") { Description = "…or this many seconds after the first label not yet trained on", DefaultValueFactory = _ => 180 };
        var plain = new Option<bool>("--plain") { Description = "Print periodic status lines instead of the live dashboard (the default when output is redirected)" };
        var command = new Command("demo", "The full loop in one process: embedded Kafka, processor, feeders, simulated reviewers, trainer and hot swap, with a live dashboard")
        {
            duration, registry, rate, emailShare, reviewFraction, retrainEvery, retrainWait, plain,
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
        : null;
}

using System.CommandLine;
using StreamBert.Cli.Scenarios;

namespace StreamBert.Cli.Commands;

internal static class ScenarioCommand
{
    public static Command Create()
    {
        var registry = new Option<string?>("--registry") { Description = "Registry whose current spam version is the SMS-only starting model (default: train one)" };
        var labels = new Option<int>("--labels") { Description = "Enron emails the reviewers label", DefaultValueFactory = _ => 500 };
        var evaluate = new Option<int>("--evaluate") { Description = "Held-out Enron emails measured through the processor before and after", DefaultValueFactory = _ => 400 };
        var command = new Command("scenario-learn", "Continuous learning end to end: SMS-only model, Enron reviewer labels, retrain, hot swap, F1 on held-out Enron before/after")
        {
            registry, labels, evaluate,
        };
        CommandChecks.AtLeast(labels, 1);
        CommandChecks.AtLeast(evaluate, 1);
        command.SetAction((result, ct) => ContinuousLearningScenario.RunAsync(result.GetValue(registry), result.GetValue(labels), result.GetValue(evaluate), Console.Out, ct));
        return command;
    }
}

using System.CommandLine;
using StreamBert.Cli.Commands;

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
root.Subcommands.Add(OverloadCommand.Create());
root.Subcommands.Add(ScenarioCommand.Create());
return await root.Parse(args).InvokeAsync();

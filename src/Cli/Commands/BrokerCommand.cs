using System.CommandLine;
using StreamBert.Kafka;

namespace StreamBert.Cli.Commands;

internal static class BrokerCommand
{
    public static Command Create()
    {
        var brokers = new Option<int>("--brokers") { Description = "Number of brokers in the embedded cluster", DefaultValueFactory = _ => 3 };
        var partitions = new Option<int>("--partitions") { Description = "Partitions per StreamBert topic", DefaultValueFactory = _ => 3 };
        var bootstrapFile = new Option<string?>("--bootstrap-file") { Description = "Write the bootstrap address to this file when ready" };
        var command = new Command("broker", "Run an embedded Kafka cluster (librdkafka mock cluster, real wire protocol) until SIGINT/SIGTERM")
        {
            brokers, partitions, bootstrapFile,
        };
        CommandChecks.AtLeast(brokers, 1);
        CommandChecks.AtLeast(partitions, 1);
        command.SetAction((result, ct) => BrokerHost.RunAsync(
            new BrokerHostOptions { Brokers = result.GetValue(brokers), Partitions = result.GetValue(partitions), BootstrapFile = result.GetValue(bootstrapFile) },
            Console.Out,
            ct));
        return command;
    }
}

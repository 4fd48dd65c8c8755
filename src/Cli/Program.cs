using StreamBert.Cli.Commands;

return await StreamBertCli.InvokeAsync(args);

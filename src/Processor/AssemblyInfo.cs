namespace StreamBert.Processor;
